module github.com/flux-artifact-rs/benches/compare

go 1.19

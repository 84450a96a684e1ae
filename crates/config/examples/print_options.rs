//! Parses the artifact flags (and `STORAGE_*` env vars) and prints the resulting options,
//! the derived bind and advertised addresses, and any validation problem.
//!
//! ```text
//! cargo run -p flux-artifact-config --example print_options -- --help
//! STORAGE_ADDRESS=0.0.0.0:9090 cargo run -p flux-artifact-config --example print_options
//! ```

use clap::Parser;
use flux_artifact_config::{Options, format_duration};

/// Prints what a controller would make of its artifact flags.
#[derive(Parser)]
#[command(name = "print_options")]
struct Cli {
    #[command(flatten)]
    artifact: Options,
}

fn main() {
    let options = Cli::parse().artifact;
    println!("storage path:        {}", options.storage_path.display());
    println!("storage address:     {}", options.storage_address);
    println!(
        "retention:           {} or {} records",
        format_duration(options.artifact_retention_ttl),
        options.artifact_retention_records
    );
    println!("digest algorithm:    {}", options.artifact_digest_algo);
    match options.bind_address() {
        Ok(addr) => println!("bind address:        {addr}"),
        Err(e) => println!("bind address:        error: {e}"),
    }
    match options.advertised_address() {
        Ok(addr) => println!("advertised address:  {addr}"),
        Err(e) => println!("advertised address:  error: {e}"),
    }
    if let Err(e) = options.validate() {
        println!("invalid:             {e}");
        std::process::exit(2);
    }
}

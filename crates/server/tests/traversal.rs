//! Hostile request paths against a root with escape routes: no byte from outside the
//! root is ever served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::{request, start};

const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-ROOT";

#[tokio::test]
async fn hostile_paths_get_no_byte_from_outside_the_root() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("storage");
    let outside = top.path().join("outside");
    fs::create_dir_all(root.join("k/ns/n")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("secret.txt"), SECRET).unwrap();
    fs::write(root.join("k/ns/n/a.tar.gz"), b"inside").unwrap();
    // Escape routes planted inside the root.
    std::os::unix::fs::symlink("../outside", root.join("escape")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("k/ns/n/latest.tar.gz")).unwrap();
    std::os::unix::fs::symlink("../../../../outside/secret.txt", root.join("k/ns/n/rel.tar.gz")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("passwd")).unwrap();

    let server = start(&root).await;
    let outside_abs = outside.join("secret.txt");
    let absolute = outside_abs.to_str().unwrap();
    let hostile = [
        "/../outside/secret.txt".to_owned(),
        "/../../etc/passwd".to_owned(),
        "/k/../../outside/secret.txt".to_owned(),
        "/%2e%2e/outside/secret.txt".to_owned(),
        "/%2E%2E/outside/secret.txt".to_owned(),
        "/.%2e/outside/secret.txt".to_owned(),
        "/%2e%2e%2foutside%2fsecret.txt".to_owned(),
        "/..%2f..%2fetc%2fpasswd".to_owned(),
        "/k%2f..%2f..%2foutside%2fsecret.txt".to_owned(),
        "/..%5c..%5coutside%5csecret.txt".to_owned(),
        "/..\\outside\\secret.txt".to_owned(),
        "/k/ns/n/a.tar.gz%00/../../../../outside/secret.txt".to_owned(),
        "//outside/secret.txt".to_owned(),
        format!("/{absolute}"),
        format!("/{}", absolute.trim_start_matches('/')),
        absolute.to_owned(),
        "/escape/secret.txt".to_owned(),
        "/abs/secret.txt".to_owned(),
        "/k/ns/n/latest.tar.gz".to_owned(),
        "/k/ns/n/rel.tar.gz".to_owned(),
        "/passwd".to_owned(),
        "/./outside/secret.txt".to_owned(),
        "/k/./../../outside/secret.txt".to_owned(),
        "/%252e%252e/outside/secret.txt".to_owned(),
        "http://artifacts/../outside/secret.txt".to_owned(),
        "/escape/%2e%2e/outside/secret.txt".to_owned(),
    ];
    assert!(hostile.len() >= 20);
    for target in &hostile {
        for method in ["GET", "HEAD"] {
            let reply = request(server.addr, method, target, &[]).await;
            assert!(
                reply.status == 400 || reply.status == 404,
                "{method} {target} answered {}",
                reply.status
            );
            assert!(
                !reply.body.windows(SECRET.len()).any(|w| w == SECRET),
                "{method} {target} leaked the secret"
            );
            assert!(
                !String::from_utf8_lossy(&reply.body).contains("root:"),
                "{method} {target} leaked /etc/passwd"
            );
        }
    }
    // The same server still serves what is inside.
    assert_eq!(
        request(server.addr, "GET", "/k/ns/n/a.tar.gz", &[]).await.body,
        b"inside"
    );
}

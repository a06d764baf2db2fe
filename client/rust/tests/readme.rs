//! The README's examples, as a newcomer runs them: against `switchyard demo`.
//!
//! Each ```rust block of README.md that dials 127.0.0.1:50051 opens with the path of
//! the example it is (`// examples/NAME.rs`), and must be that file verbatim. The
//! test runs the example's binary against `switchyard demo --keep-running --listen
//! 127.0.0.1:0` (its address as the first argument) and compares what it prints with
//! the ```text block under it. `cargo test -p switchyard-client` builds the examples;
//! a `--test readme` run alone uses them as last built.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a test: a failure should stop it loudly, and what it prints is its output"
)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const README_ADDR: &str = "127.0.0.1:50051";

struct Example {
    name: String,
    code: String,
    output: String,
}

/// Fenced blocks of README.md: (language, body).
fn blocks() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read README.md");
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in readme.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => open = Some((lang.to_owned(), String::new())),
            (Some(_), Some("")) => out.extend(open.take()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

fn examples() -> Vec<Example> {
    let blocks = blocks();
    blocks
        .iter()
        .zip(blocks.iter().skip(1))
        .filter(|((lang, body), (next, _))| {
            lang.starts_with("rust") && body.contains(README_ADDR) && next == "text"
        })
        .map(|((_, code), (_, output))| {
            let name = code
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("// examples/"))
                .and_then(|l| l.split_once(".rs"))
                .map(|(name, _)| name.to_owned())
                .unwrap_or_else(|| {
                    panic!("a README example opens with `// examples/NAME.rs`:\n{code}")
                });
            Example {
                name,
                code: code.clone(),
                output: output.clone(),
            }
        })
        .collect()
}

fn switchyard_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SWITCHYARD_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")),
        PathBuf::from,
    );
    target.join("debug").join("switchyard")
}

/// `<profile dir>/examples/NAME`: this test runs from `<profile dir>/deps/`.
fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from <target>/<profile>/deps");
    profile.join("examples").join(name)
}

/// `switchyard demo --keep-running`, stopped on drop.
struct Demo {
    child: Child,
    addr: String,
}

impl Demo {
    fn start() -> Self {
        let bin = switchyard_bin();
        let mut child = Command::new(&bin)
            .args(["demo", "--keep-running", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("The demo server keeps running on ") {
                    let _ = tx.send(
                        rest.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the demo printed its address within 30 s");
        Self { child, addr }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[test]
fn readme_examples_are_the_example_files_and_print_what_the_readme_shows() {
    let examples = examples();
    assert!(
        examples.len() >= 2,
        "rust blocks dialing {README_ADDR} with an output block: {}",
        examples.len()
    );
    let demo = Demo::start();
    for e in &examples {
        let file = format!("{}/examples/{}.rs", env!("CARGO_MANIFEST_DIR"), e.name);
        let source = std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{file}: {err}"));
        assert_eq!(e.code, source, "the README block is not {file} verbatim");

        let bin = example_bin(&e.name);
        assert!(
            bin.is_file(),
            "{} is missing: `cargo test -p switchyard-client` builds the examples",
            bin.display()
        );
        let out = Command::new(&bin)
            .arg(&demo.addr)
            .output()
            .unwrap_or_else(|err| panic!("run {}: {err}", bin.display()));
        assert!(
            out.status.success(),
            "{}: {}\n{}",
            e.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), e.output, "{}", e.name);
    }
}

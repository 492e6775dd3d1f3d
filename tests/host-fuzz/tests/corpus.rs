//! The committed seed corpus (`corpus/<target>/`) holds every seed the targets generate, and
//! every input in it, and a fixed set of mutations of each, passes its target's checks. This
//! is the part of the host fuzzing that runs on any toolchain without libFuzzer: a crash
//! found by `cargo xtask fuzz-host` and committed to the corpus stays a test.
//!
//! `WSKRS_BLESS_CORPUS=1 cargo test -p wskrs-host-fuzz` writes the seeds after a change of the
//! encoders.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use wskrs_host_fuzz::mutate::{mutate, Rng};
use wskrs_host_fuzz::{Target, TARGETS};

/// Mutations per corpus input (the driver target runs whole sessions: fewer).
const MUTATIONS: usize = 200;
const DRIVER_MUTATIONS: usize = 10;

fn corpus_dir(target: &Target) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target.name)
}

/// Every file of the target's committed corpus, sorted by name.
fn corpus(target: &Target) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&path).expect("a corpus file reads");
            (name, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn committed_corpus_holds_every_seed() {
    let bless = std::env::var_os("WSKRS_BLESS_CORPUS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for target in TARGETS {
        let dir = corpus_dir(target);
        let seeds = (target.seeds)();
        assert!(!seeds.is_empty(), "{} has seeds", target.name);
        for seed in seeds {
            let path = dir.join(&seed.name);
            if std::fs::read(&path).ok().as_deref() == Some(&seed.bytes[..]) {
                continue;
            }
            if bless {
                std::fs::create_dir_all(&dir).expect("the corpus folder");
                std::fs::write(&path, &seed.bytes).expect("a seed is written");
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "seeds missing or different (WSKRS_BLESS_CORPUS=1 cargo test -p wskrs-host-fuzz \
         writes them): {stale:#?}"
    );
}

#[test]
fn every_corpus_input_passes() {
    for target in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "{} has a corpus", target.name);
        for (name, bytes) in files {
            eprintln!("{}: {name}", target.name);
            (target.check)(&bytes);
        }
    }
}

#[test]
fn mutations_of_the_corpus_pass() {
    for target in TARGETS {
        let files = corpus(target);
        let count = if target.name == "driver" {
            DRIVER_MUTATIONS
        } else {
            MUTATIONS
        };
        let mut rng = Rng::new(0x5EED_0000 + target.name.len() as u64);
        for (index, (name, bytes)) in files.iter().enumerate() {
            let other = &files[(index + 1) % files.len()].1;
            for round in 0..count {
                let input = mutate(&mut rng, bytes, other);
                if std::panic::catch_unwind(|| (target.check)(&input)).is_err() {
                    let hex = input.iter().fold(String::new(), |mut hex, b| {
                        let _ = write!(hex, "{b:02x}");
                        hex
                    });
                    panic!(
                        "{}: mutation {round} of {name} fails; input (hex): {hex}",
                        target.name
                    );
                }
            }
        }
    }
}

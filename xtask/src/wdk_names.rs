//! Proof that `wsk-bindings`'s WDK configuration cannot break on a name clash.
//!
//! `wsk-bindings` declares by hand (src/missing.rs) what Wine's headers lack; the WDK's headers
//! define many of those names. Its build script keeps every hand-declared name out of the
//! generated bindings. This check builds `wsk-bindings` and `wsk` in their WDK configuration
//! (`WDKContentRoot` set) against a header set that declares every hand-declared name too:
//! Wine's DDK headers, shaped like a WDK, plus a `clash.h` that defines each name the headers
//! do not already define. A clash would be an ambiguous name (a compile error in `wsk`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::kmdf::{symlink_dir, write_if_changed};
use crate::layout::Layout;
use crate::proc::run_visible;
use crate::util::say;

const KIT_VERSION: &str = "10.0.22621.0";

/// A name src/missing.rs declares, and what kind of C declaration stands for it in clash.h.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Declared {
    /// `pub const`: a macro.
    Constant(String),
    /// `pub struct|type|enum|union`: a typedef.
    Type(String),
    /// `pub fn`: a function prototype.
    Function(String),
    /// `pub static`: an extern variable.
    Variable(String),
}

impl Declared {
    fn name(&self) -> &str {
        match self {
            Self::Constant(n) | Self::Type(n) | Self::Function(n) | Self::Variable(n) => n,
        }
    }

    fn c_declaration(&self) -> String {
        match self {
            Self::Constant(n) => format!("#undef {n}\n#define {n} 1\n"),
            Self::Type(n) => format!("typedef struct {{ int wskrs_clash_probe; }} {n};\n"),
            Self::Function(n) => format!("void {n}(void);\n"),
            Self::Variable(n) => format!("extern const int {n};\n"),
        }
    }
}

/// The declarations of missing.rs, by kind.
fn hand_declared(missing_rs: &str) -> Vec<Declared> {
    let mut found: Vec<Declared> = missing_rs
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("pub ")?;
            let rest = rest.strip_prefix("unsafe ").unwrap_or(rest);
            let (kind, rest) = rest.split_once(' ')?;
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                return None;
            }
            match kind {
                "const" => Some(Declared::Constant(name)),
                "struct" | "type" | "enum" | "union" => Some(Declared::Type(name)),
                "fn" => Some(Declared::Function(name)),
                "static" => Some(Declared::Variable(name)),
                _ => None,
            }
        })
        .collect();
    found.sort_by(|a, b| a.name().cmp(b.name()));
    found.dedup();
    found
}

/// Runs the check; returns whether it passed.
pub(crate) fn check(layout: &Layout) -> Result<bool> {
    let work = layout.target.join("wdk-names-check");
    let kit = work.join("kit");
    let missing = fs::read_to_string(layout.root.join("wsk-bindings/src/missing.rs"))
        .context("reading wsk-bindings/src/missing.rs")?;
    let declared = hand_declared(&missing);
    if declared.is_empty() {
        bail!("found no declarations in wsk-bindings/src/missing.rs");
    }
    let include = kit.join("Include").join(KIT_VERSION);
    assemble(layout, &include)?;

    // clash.h: every hand-declared name the header set does not declare already. Names it
    // does declare (clang reports a redefinition) are dropped: the set declares them either way.
    let mut pending: Vec<Declared> = declared.clone();
    let mut already = 0usize;
    for _round in 0..8 {
        let text: String = pending.iter().map(Declared::c_declaration).collect();
        write_if_changed(&include.join("km").join("clash.h"), text.as_bytes())?;
        let errors = syntax_errors(&include)?;
        if errors.is_empty() {
            break;
        }
        let before = pending.len();
        pending.retain(|d| {
            !matches!(
                d,
                Declared::Type(_) | Declared::Function(_) | Declared::Variable(_)
            ) || !(errors.contains(&format!("'{}'", d.name()))
                || errors.contains(&format!("struct {}'", d.name())))
        });
        already += before - pending.len();
        if pending.len() == before {
            bail!("the clash header set does not compile:\n{errors}");
        }
    }
    say(&format!(
        "wdk-names: {} hand-declared names in wsk-bindings/src/missing.rs; the WDK-shaped header \
         set declares {} of them itself and clash.h the other {}",
        declared.len(),
        already,
        pending.len()
    ));

    say("wdk-names: cargo check -p wsk-bindings -p wsk (WDKContentRoot set, x86_64-pc-windows-msvc)");
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(&layout.root)
        .args([
            "check",
            "--quiet",
            "-p",
            "wsk-bindings",
            "-p",
            "wsk",
            "--target",
            "x86_64-pc-windows-msvc",
        ])
        .env("WDKContentRoot", &kit)
        .env("WDK_VERSION", KIT_VERSION)
        .env("CARGO_TARGET_DIR", work.join("target"))
        // A clash shows as ambiguous glob re-exports, which rustc only warns about.
        .env("RUSTFLAGS", "-D warnings");
    Ok(run_visible(&mut cmd, "cargo check (WDK configuration)")?.success())
}

/// `Include/<v>/{km,shared,um,km/crt}` as wsk-bindings's WDK configuration reads them: Wine's
/// headers, the KMDF kit's km wrappers, and a `wsk.h` that also includes `clash.h`.
fn assemble(layout: &Layout, include: &Path) -> Result<()> {
    let wine = PathBuf::from(
        std::env::var("WSK_BINDINGS_WINE_INCLUDE")
            .unwrap_or_else(|_| "/usr/include/wine/wine".into()),
    );
    let km = include.join("km");
    fs::create_dir_all(&km).with_context(|| format!("creating {}", km.display()))?;
    fs::create_dir_all(include.join("um")).context("creating the kit's um folder")?;
    symlink_dir(&wine.join("msvcrt"), &km.join("crt"))?;
    symlink_dir(&wine.join("windows"), &include.join("shared"))?;
    let wrappers = layout.root.join("driver/kmdf/linux-wdk/km");
    for name in ["wskrs-prelude.h", "ntddk.h"] {
        let bytes = fs::read(wrappers.join(name))
            .with_context(|| format!("reading {}", wrappers.join(name).display()))?;
        write_if_changed(&km.join(name), &bytes)?;
    }
    write_if_changed(
        &km.join("wsk.h"),
        b"/* wsk.h of the name-clash check: Wine's, then every hand-declared name. */\n\
          #include \"wskrs-prelude.h\"\n#include <ddk/wsk.h>\n#include \"clash.h\"\n",
    )?;
    Ok(())
}

/// clang's errors for the header set wsk-bindings parses (include/wdk.h), or "" when clean.
fn syntax_errors(include: &Path) -> Result<String> {
    let mut cmd = Command::new("clang");
    cmd.args([
        "--target=x86_64-pc-windows-msvc",
        "-D_WIN64",
        "-D_AMD64_",
        "-fms-extensions",
        "-fms-compatibility",
        "-fsyntax-only",
        "-Wno-everything",
        "-ferror-limit=0",
        "-xc",
        "-",
    ]);
    for sub in ["km", "shared", "um", "km/crt"] {
        cmd.arg(format!("-I{}", include.join(sub).display()));
    }
    let source = "#include <ntddk.h>\n#include <wsk.h>\n#include <ws2ipdef.h>\n";
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting clang (is it installed? `cargo xtask setup`)")?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin
            .write_all(source.as_bytes())
            .context("writing to clang")?;
    }
    let out = child.wait_with_output().context("waiting for clang")?;
    if out.status.success() {
        return Ok(String::new());
    }
    Ok(String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("error:"))
        .collect::<Vec<_>>()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_declaration_is_found() {
        let text = "pub const A: u32 = 1;\n    pub fn f(x: u8);\npub struct S {\npub type T = u8;\n\
                    pub static G: u8 = 0;\n// pub const NOT: u8 = 0;\npub(crate) const P: u8 = 0;\n";
        let found = hand_declared(text);
        assert_eq!(
            found,
            vec![
                Declared::Constant("A".into()),
                Declared::Variable("G".into()),
                Declared::Type("S".into()),
                Declared::Type("T".into()),
                Declared::Function("f".into()),
            ]
        );
    }

    #[test]
    fn the_real_file_declares_what_the_wdk_also_defines() {
        let text = include_str!("../../wsk-bindings/src/missing.rs");
        let names: Vec<String> = hand_declared(text)
            .iter()
            .map(|d| d.name().to_owned())
            .collect();
        for expected in [
            "WSK_CACHE_SD",
            "SO_WSK_SECURITY",
            "IPPROTO_TCP",
            "WSK_CLIENT_DATAGRAM_DISPATCH",
            "IofCompleteRequest",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected} not found");
        }
    }
}

//! `cargo xtask new-driver NAME [--dir DIR] [--kmdf]`: a new driver crate from the minimal WDM
//! example (`examples/wdm-echo-client`; with `--kmdf` the KMDF one, `examples/kmdf-echo-client`),
//! its name filled in, depending on this checkout's `wsk` by
//! path; and `cargo xtask run-driver PATH`, which builds such a crate and loads it under Wine
//! (see `examples.rs`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use std::process::ExitCode;

use crate::artifacts::{self, Built};
use crate::choice::Choice;
use crate::examples::{self, camel_case, Check, DriverCrate, Model};
use crate::layout::Layout;
use crate::provider::Provider;
use crate::setup;
use crate::util::{fmt_duration, say};

/// An example a new crate is made from, and the names in it that become the new crate's.
struct Template {
    example: &'static str,
    service: &'static str,
    /// The example's `description`, replaced by a plain one.
    description: &'static str,
}

/// The default template: the minimal WDM driver.
const WDM: Template = Template {
    example: "wdm-echo-client",
    service: "WdmEchoClient",
    description: "Example: a WDM driver that connects to an echo server from DriverEntry",
};
/// `--kmdf`: the minimal KMDF driver on the windows-drivers-rs crates.
const KMDF: Template = Template {
    example: "kmdf-echo-client",
    service: "KmdfEchoClient",
    description: "Example: a KMDF driver that connects to an echo server from DriverEntry",
};

impl Template {
    const fn of(model: Model) -> &'static Self {
        match model {
            Model::Wdm => &WDM,
            Model::Kmdf => &KMDF,
        }
    }
}

/// Files copied (relative to the example) if it has them; `target/` is not.
const FILES: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
    ".cargo/config.toml",
    ".gitignore",
    "src/lib.rs",
];

/// A crate name cargo accepts and a service name Windows accepts: lowercase ASCII letter
/// first, then letters, digits, `-` or `_`, at most 64 characters.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !first_ok || !rest_ok || name.len() > 64 {
        bail!(
            "`{name}` is not a usable driver name: start with a lowercase letter, then lowercase \
             letters, digits, `-` or `_` (at most 64)"
        );
    }
    Ok(())
}

/// The template's text with `name` filled in.
fn fill(template: &Template, file: &str, text: &str, name: &str, root: &str) -> String {
    let service = camel_case(name);
    let example = template.example;
    match file {
        "Cargo.toml" => text
            .replace(
                &format!("name = \"{example}\""),
                &format!("name = \"{name}\""),
            )
            .replace(template.description, "A driver on wsk")
            // The project's crates by absolute path (`../../wsk`, `../../driver/kernel`).
            .replace("path = \"../../", &format!("path = \"{root}/")),
        "Cargo.lock" => text.replace(
            &format!("name = \"{example}\""),
            &format!("name = \"{name}\""),
        ),
        "src/lib.rs" => text
            .replace(&format!("{example}:"), &format!("{name}:"))
            .replace(template.service, &service),
        _ => text.to_owned(),
    }
}

/// Creates `DIR/NAME` (DIR: the current directory by default). Returns the crate's directory.
pub(crate) fn create(
    layout: &Layout,
    name: &str,
    dir: Option<&Path>,
    model: Model,
) -> Result<PathBuf> {
    let template = Template::of(model);
    check_name(name)?;
    let parent = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().context("reading the current directory")?,
    };
    let dest = parent.join(name);
    if dest.exists() {
        bail!("{} exists already", dest.display());
    }
    let example = layout.root.join("examples").join(template.example);
    let root = layout
        .root
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", layout.root.display()))?;
    for file in FILES {
        let from = example.join(file);
        let text = match fs::read_to_string(&from) {
            Ok(text) => text,
            // The lock file is optional (cargo makes one); not every example has a .gitignore.
            Err(_) if matches!(*file, "Cargo.lock" | ".gitignore") => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", from.display())),
        };
        let to = dest.join(file);
        if let Some(folder) = to.parent() {
            fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        }
        fs::write(&to, fill(template, file, &text, name, root))
            .with_context(|| format!("writing {}", to.display()))?;
    }
    Ok(dest)
}

/// The commands of this module and of `examples.rs`: `examples`, `new-driver`, `run-driver`.
pub(crate) fn dispatch(layout: &Layout, command: &str, args: &[String]) -> Result<ExitCode> {
    match command {
        "new-driver" => {
            new_driver(layout, args)?;
            Ok(ExitCode::SUCCESS)
        }
        "run-driver" => {
            let [path] = args else {
                bail!("usage: cargo xtask run-driver PATH");
            };
            setup::ensure(layout)?;
            let built = artifacts::build(layout)?;
            run_driver(layout, &built, Path::new(path))?;
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            if let Some(extra) = args.first() {
                bail!("`{command}` takes no arguments (got `{extra}`)");
            }
            setup::ensure(layout)?;
            let built = artifacts::build(layout)?;
            let providers = match Provider::explicit()? {
                Some(provider) => vec![provider],
                None => vec![Provider::chosen()?],
            };
            Ok(if examples::run_examples(layout, &built, &providers) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// `cargo xtask new-driver NAME [--dir DIR] [--kmdf]`.
fn new_driver(layout: &Layout, args: &[String]) -> Result<()> {
    let mut name = None;
    let mut dir = None;
    let mut model = Model::Wdm;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dir" => dir = Some(PathBuf::from(it.next().context("--dir needs a value")?)),
            "--kmdf" => model = Model::Kmdf,
            other if other.starts_with('-') => bail!("new-driver: unknown option `{other}`"),
            other if name.is_none() => name = Some(other.to_owned()),
            other => bail!("new-driver: one NAME only (got `{other}` too)"),
        }
    }
    let name = name.context("usage: cargo xtask new-driver NAME [--dir DIR] [--kmdf]")?;
    let dest = create(layout, &name, dir.as_deref(), model)?;
    say(&format!("new-driver: created {}", dest.display()));
    match model {
        Model::Wdm => say(&format!(
            "  build it:  cd {} && ECHO_SERVER=127.0.0.1:7000 cargo build --release",
            dest.display()
        )),
        // wdk-build needs a WDK: on Linux the harness supplies the project's kit.
        Model::Kmdf => say(
            "  build it:  on Windows, `cargo build --release` in a WDK or eWDK prompt; on Linux, \
             run-driver below builds it with the project's kit",
        ),
    }
    say(&format!(
        "  load it under Wine against a Linux echo server: cargo xtask run-driver {}",
        dest.display()
    ));
    Ok(())
}

/// `cargo xtask run-driver PATH`: builds the crate at PATH, loads it under Wine next to its
/// peer (an echo server, or a Linux client when the crate listens on `LISTEN_ADDR`), prints
/// its debug output and the result, unloads it.
pub(crate) fn run_driver(layout: &Layout, built: &Built, path: &Path) -> Result<()> {
    let krate = DriverCrate::open(path)?;
    let check = check_of(&krate);
    let ran = examples::run(layout, built, &krate, check)?;
    for line in &ran.output {
        say(&format!("  driver: {line}"));
    }
    say(&format!(
        "run-driver {}: built ({}), loaded ({}) as service {}, {}",
        krate.package,
        fmt_duration(ran.built),
        fmt_duration(ran.loaded),
        krate.service(),
        ran.result
    ));
    Ok(())
}

/// A crate that reads `LISTEN_ADDR` is a server; any other one an echo client.
fn check_of(krate: &DriverCrate) -> Check {
    let lib = fs::read_to_string(krate.dir.join("src/lib.rs")).unwrap_or_default();
    if lib.contains("option_env!(\"LISTEN_ADDR\")") {
        Check::EchoServer
    } else {
        Check::EchoClient
    }
}

/// `cargo xtask test`'s step: every example under each of `providers`, built as its author
/// builds it and run under Wine (one line each), then a crate made by `new-driver` in a
/// temporary directory. True if all passed.
pub(crate) fn test_step(layout: &Layout, providers: &[Provider]) -> bool {
    match artifacts::build(layout) {
        Ok(built) => {
            let examples_ok = examples::run_examples(layout, &built, providers);
            providers
                .first()
                .copied()
                .unwrap_or(Provider::Wine)
                .select();
            test_template(layout, &built) && examples_ok
        }
        Err(err) => {
            eprintln!("error: the examples could not run: {err:#}");
            false
        }
    }
}

/// The template step: a crate made in a temporary directory, built and
/// loaded, reaching "echo received". True if it did.
fn test_template(layout: &Layout, built: &Built) -> bool {
    let scratch = layout
        .target
        .join("tmp")
        .join(format!("new-driver-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    let result = create(layout, "my-first-driver", Some(&scratch), Model::Wdm).and_then(|dir| {
        let krate = DriverCrate::open(&dir)?;
        examples::run(layout, built, &krate, check_of(&krate))
    });
    let _ = fs::remove_dir_all(&scratch);
    match result {
        Ok(ran) => {
            say(&format!(
                "template new-driver my-first-driver: built ({}), loaded ({}), {}",
                fmt_duration(ran.built),
                fmt_duration(ran.loaded),
                ran.result
            ));
            true
        }
        Err(e) => {
            say(&format!(
                "template new-driver my-first-driver: FAILED: {e:#}"
            ));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("my-driver_2").is_ok());
        for bad in ["", "My", "2x", "a b", "a/b", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_template_gets_the_new_name_everywhere() {
        let layout = Layout::discover().unwrap_or_else(|e| panic!("{e:#}"));
        let scratch = std::env::temp_dir().join(format!("xtask-new-driver-{}", std::process::id()));
        let _ = fs::remove_dir_all(&scratch);
        let dir = create(&layout, "net-probe", Some(&scratch), Model::Wdm)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
        assert_eq!(
            examples::package_name(&manifest).as_deref(),
            Some("net-probe")
        );
        let wsk = layout.root.join("wsk");
        assert!(
            manifest.contains(&format!("path = \"{}\"", wsk.display())),
            "{manifest}"
        );
        assert!(lib.contains("\\\\Device\\\\NetProbe"), "{lib}");
        assert!(lib.contains("net-probe: echo received"), "{lib}");
        assert!(!lib.contains(WDM.example) && !lib.contains(WDM.service));
        assert!(dir.join(".cargo/config.toml").is_file());
        assert!(dir.join("build.rs").is_file());
        assert!(
            create(&layout, "net-probe", Some(&scratch), Model::Wdm).is_err(),
            "exists"
        );
        let _ = fs::remove_dir_all(&scratch);
    }

    #[test]
    fn the_kmdf_template_gets_the_new_name_everywhere() {
        let layout = Layout::discover().unwrap_or_else(|e| panic!("{e:#}"));
        let scratch =
            std::env::temp_dir().join(format!("xtask-new-kmdf-driver-{}", std::process::id()));
        let _ = fs::remove_dir_all(&scratch);
        let dir = create(&layout, "net-probe", Some(&scratch), Model::Kmdf)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let lock = fs::read_to_string(dir.join("Cargo.lock")).unwrap_or_default();
        let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
        assert_eq!(
            examples::package_name(&manifest).as_deref(),
            Some("net-probe")
        );
        assert_eq!(examples::model_of(&manifest), Model::Kmdf);
        assert!(lock.contains("name = \"net-probe\""), "{lock}");
        assert!(lib.contains("\\\\Device\\\\NetProbe"), "{lib}");
        assert!(lib.contains("net-probe: echo received"), "{lib}");
        assert!(!lib.contains(KMDF.example) && !lib.contains(KMDF.service));
        assert!(!manifest.contains(KMDF.description));
        assert!(
            dir.join(".gitignore").is_file(),
            "target/ is inside the crate"
        );
        let _ = fs::remove_dir_all(&scratch);
    }
}

//! A run-wide choice between named alternatives — the WSK provider (`--provider`,
//! `WSKRS_PROVIDER`) and the driver shell (`--shell`, `WSKRS_SHELL`): one parser, one flag
//! taker and one selection slot per kind, so both behave alike.

use std::ffi::OsString;
use std::sync::atomic::{AtomicU8, Ordering};

use anyhow::{bail, Context, Result};

/// The commands whose sessions load the driver, so take `--provider` and `--shell`.
const COMMANDS_WITH_CHOICES: [&str; 9] = [
    "up",
    "e2e",
    "test",
    "demo",
    "bench",
    "examples",
    "run-driver",
    "fuzz",
    "soak",
];

/// Alternatives chosen once for a run.
pub(crate) trait Choice: Copy + Eq + Sized + 'static {
    /// Every alternative, in the order `cargo xtask test` runs the suite with them; the first
    /// is the default.
    const ALL: &'static [Self];
    /// What is chosen, for messages (`WSK provider`).
    const WHAT: &'static str;
    /// The command-line flag (`--provider`).
    const FLAG: &'static str;
    /// The environment variable read when the flag is absent.
    const ENV: &'static str;

    /// The name on the command line and in the environment.
    fn name(self) -> &'static str;

    /// Where [`select`](Choice::select) keeps the choice: 0 none, else 1 + its place in
    /// [`ALL`](Choice::ALL).
    fn slot() -> &'static AtomicU8;

    /// The alternative called `s`.
    fn parse(s: &str) -> Result<Self> {
        match Self::ALL.iter().find(|c| c.name() == s) {
            Some(c) => Ok(*c),
            None => bail!(
                "unknown {} `{s}`: use {}",
                Self::WHAT,
                Self::names_for_humans()
            ),
        }
    }

    /// `wine` or `wskrs`.
    fn names_for_humans() -> String {
        let names: Vec<String> = Self::ALL
            .iter()
            .map(|c| format!("`{}`", c.name()))
            .collect();
        names.join(" or ")
    }

    /// The choice made by the flag (or [`select`](Choice::select)), else the environment
    /// variable; `None` when neither says (`cargo xtask test` then runs the suite with each).
    fn explicit() -> Result<Option<Self>> {
        let code = usize::from(Self::slot().load(Ordering::Relaxed));
        if let Some(c) = code.checked_sub(1).and_then(|i| Self::ALL.get(i)) {
            return Ok(Some(*c));
        }
        match std::env::var(Self::ENV) {
            Ok(v) if !v.is_empty() => Self::parse(&v)
                .with_context(|| format!("in {}", Self::ENV))
                .map(Some),
            _ => Ok(None),
        }
    }

    /// The explicit choice, else the default.
    fn chosen() -> Result<Self> {
        match Self::explicit()? {
            Some(c) => Ok(c),
            None => Self::ALL
                .first()
                .copied()
                .with_context(|| format!("no {} is known", Self::WHAT)),
        }
    }

    /// Makes `self` the choice for the sessions that follow (the suite's loop).
    fn select(self) {
        let place = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        let code = u8::try_from(place + 1).unwrap_or(0);
        Self::slot().store(code, Ordering::Relaxed);
    }

    /// Forgets what [`select`](Choice::select) or the flag chose, so what follows sees only
    /// the environment again.
    fn forget_selection() {
        Self::slot().store(0, Ordering::Relaxed);
    }

    /// Removes `FLAG X` / `FLAG=X` from the arguments of the commands that load the driver,
    /// remembering the choice; other commands' arguments are returned unchanged.
    fn take_flag(command: &str, args: &[OsString]) -> Result<Vec<OsString>> {
        if !COMMANDS_WITH_CHOICES.contains(&command) {
            return Ok(args.to_vec());
        }
        let flag = Self::FLAG;
        let with_value = format!("{flag}=");
        let mut rest = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let value = if a == flag {
                let v = it.next().with_context(|| {
                    format!("{flag} needs a value: {}", Self::names_for_humans())
                })?;
                v.to_str()
                    .with_context(|| format!("{flag} value is not UTF-8"))?
                    .to_owned()
            } else if let Some(v) = a.to_str().and_then(|s| s.strip_prefix(&with_value)) {
                v.to_owned()
            } else {
                rest.push(a.clone());
                continue;
            };
            Self::parse(&value)?.select();
        }
        Ok(rest)
    }
}

/// A command that runs one driver session (the fuzzer, the soak): with the shell and provider
/// chosen on the command line, WDM and the wsk-rs provider otherwise. `session` says whether
/// it passed.
pub(crate) fn run_chosen(
    layout: &crate::layout::Layout,
    session: impl FnOnce(
        &crate::artifacts::Built,
        crate::shell::Shell,
        crate::provider::Provider,
    ) -> Result<bool>,
) -> Result<std::process::ExitCode> {
    use crate::provider::Provider;
    use crate::shell::Shell;
    crate::setup::ensure(layout)?;
    let built = crate::artifacts::build(layout)?;
    let shell = Shell::explicit()?.unwrap_or(Shell::Wdm);
    let provider = Provider::explicit()?.unwrap_or(Provider::Wskrs);
    let ok = session(&built, shell, provider)?;
    Shell::forget_selection();
    Provider::forget_selection();
    Ok(if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// The short form of such a command in `cargo xtask test` (WDM shell, wsk-rs provider); true
/// when it passed. `what` names it in the error line.
pub(crate) fn run_short(
    layout: &crate::layout::Layout,
    what: &str,
    session: impl FnOnce(
        &crate::artifacts::Built,
        crate::shell::Shell,
        crate::provider::Provider,
    ) -> Result<bool>,
) -> bool {
    use crate::provider::Provider;
    use crate::shell::Shell;
    let ok = crate::artifacts::build(layout)
        .and_then(|built| session(&built, Shell::Wdm, Provider::Wskrs))
        .unwrap_or_else(|err| {
            eprintln!("error: the short {what} could not run: {err:#}");
            false
        });
    Shell::forget_selection();
    Provider::forget_selection();
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A choice of its own, so these tests share no slot with the real ones.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Colour {
        Red,
        Blue,
    }

    static COLOUR: AtomicU8 = AtomicU8::new(0);

    impl Choice for Colour {
        const ALL: &'static [Self] = &[Self::Red, Self::Blue];
        const WHAT: &'static str = "colour";
        const FLAG: &'static str = "--colour";
        const ENV: &'static str = "WSKRS_TEST_COLOUR_UNSET";

        fn name(self) -> &'static str {
            match self {
                Self::Red => "red",
                Self::Blue => "blue",
            }
        }

        fn slot() -> &'static AtomicU8 {
            &COLOUR
        }
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn flags_are_taken_in_both_spellings_and_the_rest_kept() {
        let rest = Colour::take_flag("e2e", &args(&["case_a", "--colour", "blue", "case_b"]));
        assert_eq!(rest.unwrap(), args(&["case_a", "case_b"]));
        assert_eq!(Colour::explicit().unwrap(), Some(Colour::Blue));
        let rest = Colour::take_flag("up", &args(&["--colour=red"])).unwrap();
        assert!(rest.is_empty());
        assert_eq!(Colour::chosen().unwrap(), Colour::Red);
        Colour::forget_selection();
        assert_eq!(Colour::explicit().unwrap(), None);
        assert_eq!(
            Colour::chosen().unwrap(),
            Colour::Red,
            "the first is the default"
        );
    }

    #[test]
    fn commands_that_load_no_driver_keep_the_flag() {
        let given = args(&["--colour", "blue"]);
        assert_eq!(Colour::take_flag("build", &given).unwrap(), given);
    }

    #[test]
    fn bad_values_say_what_is_allowed() {
        let e = Colour::parse("green").unwrap_err().to_string();
        assert_eq!(e, "unknown colour `green`: use `red` or `blue`");
        let e = Colour::take_flag("test", &args(&["--colour"])).unwrap_err();
        assert_eq!(e.to_string(), "--colour needs a value: `red` or `blue`");
    }
}

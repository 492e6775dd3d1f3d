//! Checks of the Windows packaging files that Linux can make: the KMDF driver package is built
//! only on Windows (stampinf, infverif, inf2cat), so these host tests catch what can be seen
//! in the text: the INX template's structure (inf/wskrs.inx), that its service and binary
//! names match the protocol and the KMDF crate's output, that it uses only the placeholders
//! stampinf fills, and that the cargo-make files and workspaces point at each other.
//!
//! The INF rules checked come from the WDK docs: "General Syntax Rules for INF Files",
//! "INF AddService Directive", "Creating a primitive driver" (no [Manufacturer], decorated
//! [DefaultInstall], no [DefaultUninstall]) and "Using Dirids" (13 = driver store).

use std::collections::BTreeMap;

/// One INF section: its name as written and its lines (comments and blank lines dropped).
#[derive(Debug)]
pub(crate) struct Section {
    pub(crate) name: String,
    pub(crate) lines: Vec<Line>,
}

/// A line of a section: `key = value` or a bare entry (a file name in a copy-files section).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    Entry { key: String, value: String },
    Bare(String),
}

/// A parsed INF: sections in file order (names compare case-insensitively, as Windows does).
#[derive(Debug)]
pub(crate) struct Inf {
    pub(crate) sections: Vec<Section>,
}

/// Drops a `;` comment that is not inside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Parses INF text. Errors name the line that is neither a section header nor inside one.
pub(crate) fn parse(text: &str) -> Result<Inf, String> {
    let mut sections: Vec<Section> = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: unclosed section header", number + 1))?;
            sections.push(Section {
                name: name.trim().to_string(),
                lines: Vec::new(),
            });
            continue;
        }
        let section = sections
            .last_mut()
            .ok_or_else(|| format!("line {}: text before any section", number + 1))?;
        let parsed = match line.split_once('=') {
            Some((key, value)) => Line::Entry {
                key: key.trim().to_string(),
                value: value.trim().to_string(),
            },
            None => Line::Bare(line.to_string()),
        };
        section.lines.push(parsed);
    }
    Ok(Inf { sections })
}

impl Inf {
    fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    fn value(&self, section: &str, key: &str) -> Option<&str> {
        self.section(section)?
            .lines
            .iter()
            .find_map(|line| match line {
                Line::Entry { key: k, value } if k.eq_ignore_ascii_case(key) => {
                    Some(value.as_str())
                }
                _ => None,
            })
    }

    fn values<'a>(&'a self, section: &str, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.section(section).into_iter().flat_map(move |s| {
            s.lines.iter().filter_map(move |line| match line {
                Line::Entry { key: k, value } if k.eq_ignore_ascii_case(key) => {
                    Some(value.as_str())
                }
                _ => None,
            })
        })
    }
}

/// The `%token%` substitutions a text uses (`%13%` included).
fn percent_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else { break };
        tokens.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    tokens
}

/// The `$NAME$` placeholders a text uses.
fn dollar_placeholders(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('$') else { break };
        found.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    found
}

/// Placeholders stampinf fills (`-a` for $ARCH$, `-k` for $KMDFVERSION$) or that Windows
/// itself requires verbatim ($WINDOWS NT$ in Signature).
const STAMPINF_PLACEHOLDERS: &[&str] = &["WINDOWS NT", "ARCH", "KMDFVERSION"];

/// The install section of a primitive driver for an architecture placeholder.
const DEFAULT_INSTALL: &str = "DefaultInstall.NT$ARCH$";

/// Every problem found in an INX template of a primitive KMDF driver package that installs
/// `binary` as the kernel service `service`. Empty when the template is right.
pub(crate) fn check_inx(text: &str, binary: &str, service: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !text.is_ascii() {
        problems.push(
            "not ASCII (the template is kept ASCII; stampinf and infverif accept it)".to_string(),
        );
    }
    let inf = match parse(text) {
        Ok(inf) => inf,
        Err(e) => return vec![e],
    };
    check_version(&inf, &mut problems);
    check_primitive(&inf, &mut problems);
    check_files(&inf, binary, &mut problems);
    check_service(&inf, binary, service, &mut problems);
    check_strings(&inf, &mut problems);
    // Only placeholders stampinf fills.
    for placeholder in dollar_placeholders(text) {
        if !STAMPINF_PLACEHOLDERS.contains(&placeholder.as_str()) {
            problems.push(format!(
                "${placeholder}$ is not a placeholder stampinf fills"
            ));
        }
    }
    problems
}

/// [Version]: complete, as primitive drivers require; stampinf writes DriverVer and CatalogFile.
fn check_version(inf: &Inf, problems: &mut Vec<String>) {
    match inf.value("Version", "Signature") {
        Some("\"$WINDOWS NT$\"") => {}
        other => problems.push(format!(
            "[Version] Signature is {other:?}, not \"$WINDOWS NT$\""
        )),
    }
    for key in ["Class", "ClassGuid", "Provider"] {
        if inf.value("Version", key).is_none_or(str::is_empty) {
            problems.push(format!("[Version] has no {key}"));
        }
    }
    if let Some(guid) = inf.value("Version", "ClassGuid") {
        if !is_braced_guid(guid) {
            problems.push(format!(
                "[Version] ClassGuid {guid} is not a {{8-4-4-4-12}} GUID"
            ));
        }
    }
    if inf.value("Version", "PnpLockdown") != Some("1") {
        problems.push("[Version] PnpLockdown is not 1".to_string());
    }
    for key in ["DriverVer", "CatalogFile"] {
        if inf.value("Version", key).is_some() {
            problems.push(format!(
                "[Version] sets {key}, which stampinf writes (-d/-v, -c)"
            ));
        }
    }
}

/// Primitive driver: no [Manufacturer], only decorated [DefaultInstall], no [DefaultUninstall].
fn check_primitive(inf: &Inf, problems: &mut Vec<String>) {
    if inf.section("Manufacturer").is_some() {
        problems
            .push("has a [Manufacturer] section (a primitive driver package may not)".to_string());
    }
    for section in &inf.sections {
        let lower = section.name.to_ascii_lowercase();
        if lower == "defaultinstall" || lower == "defaultinstall.services" {
            problems.push(format!("[{}] is not architecture-decorated", section.name));
        }
        if lower.starts_with("defaultuninstall") {
            problems.push(format!(
                "[{}]: primitive driver packages may not have one",
                section.name
            ));
        }
    }
}

/// Files: the binary comes from the package's disk and goes to the driver store (DIRID 13).
fn check_files(inf: &Inf, binary: &str, problems: &mut Vec<String>) {
    if inf.value("DestinationDirs", "DefaultDestDir") != Some("13") {
        problems.push("[DestinationDirs] DefaultDestDir is not 13 (the driver store)".to_string());
    }
    if inf.value("SourceDisksFiles", binary).is_none() {
        problems.push(format!("[SourceDisksFiles] does not list {binary}"));
    }
    if inf.section(DEFAULT_INSTALL).is_none() {
        problems.push(format!("no [{DEFAULT_INSTALL}] section"));
    }
    let copy_sections: Vec<&str> = inf.values(DEFAULT_INSTALL, "CopyFiles").collect();
    let copies_binary = copy_sections.iter().any(|name| {
        inf.section(name)
            .is_some_and(|s| s.lines.iter().any(|l| *l == Line::Bare(binary.to_string())))
    });
    if !copies_binary {
        problems.push(format!(
            "[{DEFAULT_INSTALL}] CopyFiles does not copy {binary}"
        ));
    }
}

/// The service: INF AddService = ServiceName,[flags],service-install-section.
fn check_service(inf: &Inf, binary: &str, service: &str, problems: &mut Vec<String>) {
    let services_section = format!("{DEFAULT_INSTALL}.Services");
    let add_services: Vec<&str> = inf.values(&services_section, "AddService").collect();
    let mut service_install = None;
    for add in &add_services {
        let fields: Vec<&str> = add.split(',').map(str::trim).collect();
        match fields.as_slice() {
            [name, _flags, install, ..] if *name == service => {
                service_install = Some(install.to_string());
            }
            [name, ..] => problems.push(format!(
                "[{services_section}] adds service {name}, not {service}"
            )),
            [] => {}
        }
    }
    match service_install {
        None => problems.push(format!(
            "[{services_section}] has no AddService = {service},flags,section"
        )),
        Some(install) => {
            if inf.section(&install).is_none() {
                problems.push(format!("service install section [{install}] is missing"));
            }
            for (key, want, meaning) in [
                ("ServiceType", "1", "SERVICE_KERNEL_DRIVER"),
                (
                    "StartType",
                    "3",
                    "SERVICE_DEMAND_START: `wskctl driver start` loads it",
                ),
                ("ErrorControl", "1", "SERVICE_ERROR_NORMAL"),
            ] {
                let got = inf.value(&install, key);
                if got != Some(want) {
                    problems.push(format!(
                        "[{install}] {key} is {got:?}, not {want} ({meaning})"
                    ));
                }
            }
            let want_binary = format!("%13%\\{binary}");
            match inf.value(&install, "ServiceBinary") {
                Some(b) if b.eq_ignore_ascii_case(&want_binary) => {}
                other => problems.push(format!(
                    "[{install}] ServiceBinary is {other:?}, not {want_binary}"
                )),
            }
        }
    }
}

/// Every %string% token is defined in [Strings] (numbers are DIRIDs).
fn check_strings(inf: &Inf, problems: &mut Vec<String>) {
    let strings: BTreeMap<String, &str> = inf
        .section("Strings")
        .map(|s| {
            s.lines
                .iter()
                .filter_map(|l| match l {
                    Line::Entry { key, value } => Some((key.to_ascii_lowercase(), value.as_str())),
                    Line::Bare(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for section in inf
        .sections
        .iter()
        .filter(|s| !s.name.eq_ignore_ascii_case("Strings"))
    {
        for line in &section.lines {
            let text = match line {
                Line::Entry { key, value } => format!("{key}={value}"),
                Line::Bare(b) => b.clone(),
            };
            for token in percent_tokens(&text) {
                let is_dirid = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
                if !is_dirid && !strings.contains_key(&token.to_ascii_lowercase()) {
                    problems.push(format!(
                        "[{}] uses %{token}%, which [Strings] does not define",
                        section.name
                    ));
                }
            }
        }
    }
}

/// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` with hex digits.
fn is_braced_guid(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
        return false;
    };
    let groups: Vec<&str> = inner.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `stampinf -a <arch>` for `$ARCH$` (the part of stampinf this project's sections rely on).
pub(crate) fn stamp_arch(text: &str, arch: &str) -> String {
    text.replace("$ARCH$", arch)
}

/// The value of `key = "..."` in a TOML table, found by scanning (these files are simple).
pub(crate) fn toml_string(text: &str, table: &str, key: &str) -> Option<String> {
    let header = format!("[{table}]");
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        if !inside {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == key {
                return v
                    .trim()
                    .strip_prefix('"')?
                    .strip_suffix('"')
                    .map(str::to_string);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn read(path: &str) -> String {
        std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn inx() -> String {
        read("inf/wskrs.inx")
    }

    /// The driver binary: the KMDF package's name + .sys (cargo builds <name>.dll, the
    /// cargo-make flow copies it to <name>.sys).
    fn kmdf_binary() -> String {
        let name =
            toml_string(&read("driver/kmdf/Cargo.toml"), "package", "name").expect("package name");
        format!("{name}.sys")
    }

    #[test]
    fn the_kmdf_binary_is_wskrs_sys_like_the_wdm_build() {
        // wskctl's default install path and the Linux build's output both name wskrs.sys.
        assert_eq!(kmdf_binary(), "wskrs.sys");
        let client = read("wskctl/src/cli/driver.rs");
        assert!(client
            .contains(r#"DEFAULT_DRIVER_PATH: &str = r"C:\windows\system32\drivers\wskrs.sys""#));
    }

    #[test]
    fn the_inx_template_passes_every_check() {
        let problems = check_inx(&inx(), &kmdf_binary(), wskrs_protocol::SERVICE_NAME);
        assert!(
            problems.is_empty(),
            "inf/wskrs.inx:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn the_inx_installs_service_wskrs_from_the_driver_store() {
        let inf = parse(&inx()).expect("parses");
        let add = inf
            .value("DefaultInstall.NT$ARCH$.Services", "AddService")
            .expect("AddService");
        assert_eq!(add.split(',').next().map(str::trim), Some("WskRs"));
        assert_eq!(wskrs_protocol::SERVICE_NAME, "WskRs");
        assert_eq!(
            inf.value("WskRs_Service_Install", "ServiceBinary"),
            Some(r"%13%\wskrs.sys")
        );
        assert_eq!(inf.value("Version", "Class"), Some("System"));
        // GUID_DEVCLASS_SYSTEM ("System-Defined Device Setup Classes Available to Vendors").
        assert_eq!(
            inf.value("Version", "ClassGuid"),
            Some("{4d36e97d-e325-11ce-bfc1-08002be10318}")
        );
    }

    #[test]
    fn stamping_amd64_gives_the_decorated_install_sections_windows_looks_for() {
        let inf = parse(&stamp_arch(&inx(), "amd64")).expect("parses");
        assert!(inf.section("DefaultInstall.NTamd64").is_some());
        assert!(inf.section("DefaultInstall.NTamd64.Services").is_some());
        assert!(dollar_placeholders(&stamp_arch(&inx(), "amd64"))
            .iter()
            .all(|p| p == "WINDOWS NT"));
    }

    /// The template with `from` replaced by `to` (which must occur).
    fn mutated(from: &str, to: &str) -> String {
        let text = inx();
        assert!(
            text.contains(from),
            "the template no longer contains {from:?}"
        );
        text.replacen(from, to, 1)
    }

    fn problems_of(text: &str) -> Vec<String> {
        check_inx(text, "wskrs.sys", "WskRs")
    }

    fn assert_problem(text: &str, fragment: &str) {
        let problems = problems_of(text);
        assert!(
            problems.iter().any(|p| p.contains(fragment)),
            "no problem mentions {fragment:?}: {problems:?}"
        );
    }

    #[test]
    fn a_wrong_service_name_is_caught() {
        assert_problem(
            &mutated("AddService = WskRs,", "AddService = WskRsDrv,"),
            "adds service WskRsDrv, not WskRs",
        );
    }

    #[test]
    fn a_binary_name_that_is_not_the_crate_output_is_caught() {
        let problems = check_inx(&inx(), "wskrs_kmdf.sys", "WskRs");
        assert!(problems
            .iter()
            .any(|p| p.contains("[SourceDisksFiles] does not list wskrs_kmdf.sys")));
        assert!(problems
            .iter()
            .any(|p| p.contains("CopyFiles does not copy wskrs_kmdf.sys")));
        assert!(problems.iter().any(|p| p.contains("ServiceBinary")));
    }

    #[test]
    fn an_undecorated_default_install_is_caught() {
        assert_problem(
            &mutated("[DefaultInstall.NT$ARCH$]", "[DefaultInstall]"),
            "[DefaultInstall] is not architecture-decorated",
        );
    }

    #[test]
    fn a_manufacturer_section_or_default_uninstall_is_caught() {
        let with_manufacturer = format!(
            "{}\n[Manufacturer]\n%ProviderName% = Models,NT$ARCH$\n",
            inx()
        );
        assert_problem(&with_manufacturer, "[Manufacturer]");
        let with_uninstall = format!(
            "{}\n[DefaultUninstall.NT$ARCH$]\nDelFiles = WskRs_Files\n",
            inx()
        );
        assert_problem(&with_uninstall, "DefaultUninstall.NT$ARCH$");
    }

    #[test]
    fn auto_start_and_a_user_mode_service_type_are_caught() {
        assert_problem(
            &mutated("StartType     = 3", "StartType     = 2"),
            "StartType is Some(\"2\"), not 3",
        );
        assert_problem(
            &mutated("ServiceType   = 1", "ServiceType   = 16"),
            "ServiceType is Some(\"16\"), not 1",
        );
    }

    #[test]
    fn version_stamps_and_unknown_placeholders_are_caught() {
        assert_problem(
            &mutated(
                "PnpLockdown = 1",
                "PnpLockdown = 1\nDriverVer = 01/01/2026,1.0.0.0",
            ),
            "sets DriverVer",
        );
        assert_problem(
            &mutated(
                "PnpLockdown = 1",
                "PnpLockdown = 1\nCatalogFile = wskrs.cat",
            ),
            "sets CatalogFile",
        );
        assert_problem(
            &mutated("DefaultDestDir = 13", "DefaultDestDir = $DESTDIR$"),
            "$DESTDIR$ is not a placeholder",
        );
        assert_problem(
            &mutated("DefaultDestDir = 13", "DefaultDestDir = 12"),
            "DefaultDestDir is not 13",
        );
    }

    #[test]
    fn an_undefined_string_token_and_a_bad_guid_are_caught() {
        assert_problem(
            &mutated("Provider    = %ProviderName%", "Provider    = %Vendor%"),
            "%Vendor%",
        );
        assert_problem(
            &mutated(
                "{4d36e97d-e325-11ce-bfc1-08002be10318}",
                "{4d36e97d-e325-11ce-bfc1}",
            ),
            "is not a {8-4-4-4-12} GUID",
        );
    }

    #[test]
    fn parse_keeps_semicolons_inside_quotes_and_rejects_text_before_a_section() {
        let inf = parse("[Strings]\nA = \"x;y\" ; comment\n").expect("parses");
        assert_eq!(inf.value("strings", "a"), Some("\"x;y\""));
        assert!(parse("Key = 1\n[Version]\n").is_err());
        assert!(parse("[Version\n").is_err());
    }

    #[test]
    fn the_kmdf_crate_is_its_own_workspace_outside_the_root_one() {
        let kmdf = read("driver/kmdf/Cargo.toml");
        assert!(
            kmdf.lines().any(|l| l.trim() == "[workspace]"),
            "driver/kmdf needs its own [workspace]"
        );
        assert_eq!(
            toml_string(&kmdf, "package.metadata.wdk.driver-model", "driver-type").as_deref(),
            Some("KMDF")
        );
        let root = read("Cargo.toml");
        let members = root
            .split("members = [")
            .nth(1)
            .and_then(|r| r.split(']').next())
            .expect("members");
        assert!(
            !members.contains("driver/kmdf"),
            "the root workspace must not build the KMDF shell on Linux"
        );
        assert!(root.contains("exclude = [\"driver/kmdf\"]"));
        // The root's .cargo/config.toml names lld-link for the msvc target (Linux cross build);
        // cargo merges it into driver/kmdf's configuration, which must name MSVC's linker.
        assert!(read(".cargo/config.toml").contains("linker = \"lld-link\""));
        let kmdf_config = read("driver/kmdf/.cargo/config.toml");
        assert_eq!(
            toml_string(&kmdf_config, "target.x86_64-pc-windows-msvc", "linker").as_deref(),
            Some("link.exe")
        );
        assert!(kmdf_config.contains("target-feature=+crt-static"));
    }

    #[test]
    fn the_cargo_make_files_point_at_the_template_and_the_kmdf_flow() {
        let flow = read("driver/kmdf/Makefile.toml");
        assert!(flow.contains("extend = \"target/rust-driver-makefile.toml\""));
        assert!(flow.contains("load_rust_driver_makefile()"));
        assert!(flow.contains("[tasks.copy-inx-to-output]"));
        assert!(flow.contains(r#".join("inf").join("wskrs.inx")"#));
        // The destination is <package>.inf, the name stampinf, infverif and inf2cat use.
        assert!(flow.contains(r#"output.join("wskrs.inf")"#));
        assert!(root()
            .join("driver/kmdf")
            .join("..")
            .join("..")
            .join("inf")
            .join("wskrs.inx")
            .is_file());
        let entry = read("Makefile.toml");
        assert!(entry.contains(r#"args = ["make", "--cwd", "driver/kmdf", "default", "${@}"]"#));
    }
}

//! The thread stacks of a driver host that stopped answering (docs/reliability.md, finding 7).
//!
//! After a fuzz run that failed because a call into the device never returned, the driver
//! host is usually still alive and still stuck. [`report`] attaches gdb to it with
//! `xtask/gdb/pe_stacks.py`, which reads every thread's Windows-side stack, keeps gdb's whole
//! output in the logs directory, and quotes (through `say_detail`, so `cargo xtask test`
//! repeats them at its end) the threads that are inside the driver or the provider, the words
//! of their stacks that point into the driver symbolized from its PDB (`llvm-symbolizer`),
//! and any of Wine's critical sections that a thread holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::layout::Layout;
use crate::util::say_detail;

/// The driver's image name in the driver host's maps, and the provider's.
const DRIVER_MODULE: &str = "wskrs.sys";
const PROVIDER_MODULE: &str = "netio.sys";

/// gdb's own limit: reading ~50 threads takes seconds.
const GDB_SECONDS: &str = "120";

/// Driver addresses quoted per thread (innermost first).
const DRIVER_WORDS: usize = 8;

/// One thread as the script printed it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Thread {
    /// `LWP WINTID NAME`.
    title: String,
    frames: Vec<String>,
    /// Offsets into [`DRIVER_MODULE`] found on the stack, innermost first.
    driver_words: Vec<u64>,
    /// Whether any stack word points into [`PROVIDER_MODULE`].
    in_provider: bool,
}

/// Quotes the stacks of the driver host that maps `wskrs.sys`; `driver_image` is the image
/// (with its PDB beside it) to symbolize the driver's addresses with. False when there is no
/// such host or gdb could not read it.
pub(crate) fn report(layout: &Layout, driver_image: &Path) -> bool {
    let Some(pid) = driver_host() else {
        say_detail("  stacks: no driver host maps wskrs.sys (none is running)");
        return false;
    };
    let script = layout.root.join("xtask").join("gdb").join("pe_stacks.py");
    let output = Command::new("timeout")
        .arg(GDB_SECONDS)
        .args(["gdb", "-batch", "-nx", "-p", &pid.to_string(), "-x"])
        .arg(&script)
        .env(
            "WSKRS_SCAN_MODULES",
            format!("{DRIVER_MODULE},{PROVIDER_MODULE}"),
        )
        .output();
    let output = match output {
        Ok(o) if o.status.success() || !o.stdout.is_empty() => o,
        Ok(o) => {
            say_detail(&format!(
                "  stacks: gdb on the driver host (pid {pid}) failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ));
            return false;
        }
        Err(err) => {
            say_detail(&format!(
                "  stacks: cannot run gdb ({err}; `cargo xtask setup` installs it)"
            ));
            return false;
        }
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let kept = layout.logs.join("driver-host-stacks.txt");
    let _ = std::fs::write(&kept, text.as_bytes());
    let (threads, locks) = parse(&text);
    say_detail(&format!(
        "  stacks: the driver host (pid {pid}) has {} threads; gdb's output: {}",
        threads.len(),
        kept.display()
    ));
    for (name, owner) in locks {
        say_detail(&format!(
            "  stacks: Wine's {name} is held by thread {owner}"
        ));
    }
    let image = std::fs::read(driver_image).unwrap_or_default();
    let base = image_base(&image);
    let code = code_ranges(&image);
    for thread in threads.iter().filter(|t| is_ours(t)) {
        let top = thread
            .frames
            .iter()
            .take(3)
            .map(|f| frame_function(f))
            .collect::<Vec<_>>()
            .join(" <- ");
        say_detail(&format!("  stacks: thread {}: {top}", thread.title));
        // Words into the image's data (its import table, strings) are not return addresses.
        let words: Vec<u64> = thread
            .driver_words
            .iter()
            .copied()
            .filter(|off| code.iter().any(|r| r.contains(off)))
            .take(DRIVER_WORDS)
            .collect();
        if words.is_empty() {
            continue;
        }
        let names = base.map_or_else(Vec::new, |b| symbolize(driver_image, b, &words));
        let shown: Vec<String> = words
            .iter()
            .enumerate()
            .map(|(i, off)| {
                names
                    .get(i)
                    .filter(|n| !n.is_empty())
                    .map_or_else(|| format!("wskrs.sys+{off:#x}"), Clone::clone)
            })
            .collect();
        say_detail(&format!(
            "  stacks:   driver addresses on its stack (innermost first): {}",
            shown.join(" <- ")
        ));
    }
    true
}

/// The pid of the `winedevice.exe` that maps the driver.
fn driver_host() -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        if !String::from_utf8_lossy(&cmdline).contains("winedevice.exe") {
            return None;
        }
        let maps = std::fs::read_to_string(entry.path().join("maps")).ok()?;
        maps.lines()
            .any(|l| l.ends_with(&format!("/{DRIVER_MODULE}")))
            .then_some(pid)
    })
}

/// Threads and held locks (name, owner) from the script's output.
fn parse(text: &str) -> (Vec<Thread>, BTreeMap<String, String>) {
    let mut threads: Vec<Thread> = Vec::new();
    let mut locks = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("thread ") {
            threads.push(Thread {
                title: rest.trim().to_owned(),
                ..Thread::default()
            });
        } else if let Some(rest) = line.strip_prefix("lock ") {
            let mut fields = rest.split_whitespace();
            if let (Some(name), Some(owner)) = (fields.next(), fields.next()) {
                if owner != "0x0" {
                    locks.insert(name.to_owned(), owner.to_owned());
                }
            }
        } else if let Some(thread) = threads.last_mut() {
            if let Some(frame) = line.strip_prefix("frame ") {
                thread.frames.push(frame.to_owned());
            } else if let Some(word) = line.strip_prefix("scan ") {
                if let Some(off) = word.strip_prefix(&format!("{DRIVER_MODULE}+0x")) {
                    if let Ok(off) = u64::from_str_radix(off.trim(), 16) {
                        thread.driver_words.push(off);
                    }
                } else if word.starts_with(PROVIDER_MODULE) {
                    thread.in_provider = true;
                }
            }
        }
    }
    (threads, locks)
}

/// Whether a thread is worth quoting: inside the driver, or a provider thread that is not
/// idle in its completion port.
fn is_ours(thread: &Thread) -> bool {
    let idle = thread
        .frames
        .iter()
        .any(|f| f.contains("GetQueuedCompletionStatus") || f.contains("::sleep"));
    !thread.driver_words.is_empty() || (thread.in_provider && !idle)
}

/// `KeWaitForSingleObject` from gdb's `#3  0x... in KeWaitForSingleObject (obj=...) at ...`.
fn frame_function(frame: &str) -> String {
    let after_in = frame.split(" in ").nth(1).unwrap_or(frame);
    let body = if frame
        .split_whitespace()
        .nth(1)
        .is_some_and(|w| w.starts_with("0x"))
    {
        after_in
    } else {
        // An inlined frame: `#3  WaitForSingleObject (...)`.
        frame.split_whitespace().nth(1).unwrap_or(frame)
    };
    body.split(" (").next().unwrap_or(body).trim().to_owned()
}

/// The offset of the PE header in a PE32+ image.
fn pe_header(data: &[u8]) -> Option<usize> {
    let pe = usize::try_from(u32::from_le_bytes(data.get(0x3C..0x40)?.try_into().ok()?)).ok()?;
    (data.get(pe..pe + 4)? == b"PE\0\0").then_some(pe)
}

/// The preferred image base from the PE header (`llvm-symbolizer` takes addresses, the script
/// reports offsets).
fn image_base(data: &[u8]) -> Option<u64> {
    let pe = pe_header(data)?;
    let base = data.get(pe + 48..pe + 56)?;
    Some(u64::from_le_bytes(base.try_into().ok()?))
}

/// The image offsets (RVAs) of its executable sections.
fn code_ranges(data: &[u8]) -> Vec<std::ops::Range<u64>> {
    const EXECUTE: u32 = 0x2000_0000; // IMAGE_SCN_MEM_EXECUTE
    let Some(pe) = pe_header(data) else {
        return Vec::new();
    };
    let u16_at = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
    };
    let count = u16_at(pe + 6).unwrap_or(0);
    let optional = usize::from(u16_at(pe + 20).unwrap_or(0));
    // IMAGE_SECTION_HEADER: 40 bytes; VirtualSize at 8, VirtualAddress at 12,
    // Characteristics at 36.
    (0..usize::from(count))
        .filter_map(|i| {
            let at = pe + 24 + optional + i * 40;
            let (size, rva, flags) = (u32_at(at + 8)?, u32_at(at + 12)?, u32_at(at + 36)?);
            (flags & EXECUTE != 0).then(|| u64::from(rva)..u64::from(rva) + u64::from(size))
        })
        .collect()
}

/// Function names (innermost inlined frame first, joined by ` / `) for `offsets`, in order;
/// empty strings where the symbolizer knew nothing.
fn symbolize(image: &Path, base: u64, offsets: &[u64]) -> Vec<String> {
    let mut cmd = Command::new("llvm-symbolizer");
    cmd.arg(format!("--obj={}", image.display()));
    for off in offsets {
        // A return address points after the call: one byte back is inside it.
        cmd.arg(format!("{:#x}", (base + off).saturating_sub(1)));
    }
    let Ok(out) = cmd.output() else {
        return Vec::new();
    };
    symbolizer_blocks(&String::from_utf8_lossy(&out.stdout))
}

/// One entry per address from `llvm-symbolizer`'s output: blocks separated by blank lines,
/// each a pair of lines (function, file:line) per inlined frame.
fn symbolizer_blocks(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let names: Vec<&str> = block
                .lines()
                .step_by(2)
                .map(str::trim)
                .filter(|f| !f.is_empty() && *f != "??")
                .collect();
            names.join(" / ")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
lock loader_section 0x0
lock irp_completion_cs 0x140
thread 8911 0x140 wine_sechost_se
frame #0  0x000000017000ebef in NtWaitForMultipleObjects ()
frame #1  0x000000031caaea8e in KeWaitForMultipleObjects (count=count@entry=1) at dlls/ntoskrnl.exe/sync.c:67
frame #2  0x000000031caaed56 in KeWaitForSingleObject (obj=<optimized out>) at dlls/ntoskrnl.exe/sync.c:160
frame #3  0x00000001800177ef in wskrs_wdm!DriverEntry ()
scan wskrs.sys+0x177ef
scan wskrs.sys+0x1e64e
thread 8917 0x15c wsk-provider-1
frame #0  0x000000017000e48f in NtRemoveIoCompletion ()
frame #1  0x000000007b077c5c in GetQueuedCompletionStatus (port=0x60) at dlls/kernelbase/sync.c:57
scan netio.sys+0x4274
thread 8920 0x170 wsk-provider-resolve
frame #0  0x000000017000ebef in NtWaitForMultipleObjects ()
scan netio.sys+0x62c86
";

    #[test]
    fn the_scripts_output_gives_threads_their_driver_words_and_held_locks() {
        let (threads, locks) = parse(OUTPUT);
        assert_eq!(threads.len(), 3);
        let main = &threads[0];
        assert_eq!(main.title, "8911 0x140 wine_sechost_se");
        assert_eq!(main.driver_words, vec![0x177ef, 0x1e64e]);
        assert_eq!(main.frames.len(), 4);
        assert_eq!(frame_function(&main.frames[2]), "KeWaitForSingleObject");
        assert_eq!(frame_function(&main.frames[3]), "wskrs_wdm!DriverEntry");
        assert_eq!(
            locks.into_iter().collect::<Vec<_>>(),
            vec![("irp_completion_cs".to_owned(), "0x140".to_owned())]
        );
        // In the driver: quoted. A provider worker idle in its port: not. A provider thread
        // doing something else: quoted.
        let quoted: Vec<bool> = threads.iter().map(is_ours).collect();
        assert_eq!(quoted, vec![true, false, true]);
    }

    #[test]
    fn code_ranges_are_the_executable_sections_of_the_image() {
        // A minimal PE32+ header with two sections: .text (execute) and .rdata.
        let mut image = vec![0u8; 0x200];
        image[0x3C..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        image[0x80..0x84].copy_from_slice(b"PE\0\0");
        image[0x86..0x88].copy_from_slice(&2u16.to_le_bytes()); // NumberOfSections
        image[0x94..0x96].copy_from_slice(&0xF0u16.to_le_bytes()); // SizeOfOptionalHeader
        image[0xB0..0xB8].copy_from_slice(&0x1_8000_0000u64.to_le_bytes()); // ImageBase
        let first = 0x80 + 24 + 0xF0;
        for (at, size, rva, flags) in [
            (first, 0x2000u32, 0x1000u32, 0x6000_0020u32),
            (first + 40, 0x800, 0x3000, 0x4000_0040),
        ] {
            image[at + 8..at + 12].copy_from_slice(&size.to_le_bytes());
            image[at + 12..at + 16].copy_from_slice(&rva.to_le_bytes());
            image[at + 36..at + 40].copy_from_slice(&flags.to_le_bytes());
        }
        assert_eq!(code_ranges(&image), vec![0x1000..0x3000]);
        assert_eq!(image_base(&image), Some(0x1_8000_0000));
        assert!(code_ranges(&[0u8; 16]).is_empty());
    }

    #[test]
    fn an_inlined_frame_is_named_too() {
        assert_eq!(
            frame_function("#3  WaitForSingleObject (handle=<optimized out>) at sync.c:300"),
            "WaitForSingleObject"
        );
    }

    #[test]
    fn symbolizer_blocks_join_inlined_frames_and_keep_unknown_addresses_in_place() {
        let text = "core::option::Option::as_mut\n/rustc/x/option.rs:767:0\n\
                    wsk::irp::Blocking::run\n/work/main/wsk/src/irp.rs:259:0\n\n\
                    ??\n??:0:0\n\n";
        assert_eq!(
            symbolizer_blocks(text),
            vec![
                "core::option::Option::as_mut / wsk::irp::Blocking::run".to_owned(),
                String::new()
            ]
        );
    }
}

//! The bindings checked in under `pregenerated/` (used where neither Wine's headers nor a WDK
//! is installed: docs.rs, `cargo doc` on a bare machine) are exactly what `build.rs` generates
//! from Wine's headers on this machine.

use std::fs;
use std::path::Path;

const OUT_DIR: &str = env!("OUT_DIR");

#[test]
fn checked_in_bindings_match_a_fresh_generation_from_wines_headers() {
    let out = Path::new(OUT_DIR);
    let source = fs::read_to_string(out.join("bindings-source.txt")).unwrap_or_default();
    assert_eq!(
        source, "wine",
        "this build did not generate the bindings from Wine's headers (install libwine-dev, \
         unset WDKContentRoot): there is nothing fresh to compare the checked-in ones with"
    );
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("pregenerated");
    for file in ["types.rs", "ntoskrnl.rs", "netio.rs"] {
        let fresh = fs::read_to_string(out.join(file)).unwrap_or_default();
        let kept = fs::read_to_string(checked_in.join(file)).unwrap_or_default();
        assert!(!fresh.is_empty(), "{file}: nothing generated");
        assert!(
            fresh == kept,
            "wsk-bindings/pregenerated/{file} differs from a fresh generation; after a change of \
             build.rs or the headers, update it: cp {}/{file} {}/",
            out.display(),
            checked_in.display()
        );
    }
}

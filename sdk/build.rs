//! Embeds `wit/policy.wit` into the SDK's macros, so a plugin crate generates its bindings
//! from the one WIT package the gateway is built against, wherever the crate lives.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let wit = manifest.join("../wit/policy.wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    let text = std::fs::read_to_string(&wit).expect("sdk: cannot read ../wit/policy.wit");
    let mut out = String::from(
        "/// Generates the bindings of one policy world in the calling crate (used by the\n\
         /// policy macros; a plugin author never calls it).\n\
         #[doc(hidden)]\n#[macro_export]\nmacro_rules! __generate {\n",
    );
    for (arm, world) in [
        ("router", "router-plugin"),
        ("balancer", "balancer-plugin"),
        ("affinity", "affinity-plugin"),
        ("failover", "failover-plugin"),
    ] {
        let _ = writeln!(
            out,
            "    ({arm}) => {{ $crate::wit_bindgen::generate!({{ inline: {text:?}, world: {world:?}, runtime_path: \"::switchyard_sdk::wit_bindgen::rt\" }}); }};"
        );
    }
    out.push_str("}\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("generate.rs");
    std::fs::write(dest, out).expect("sdk: cannot write generated macro");
}

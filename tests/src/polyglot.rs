//! Builds the C, JavaScript and Python example plugins from source with each language's
//! standard toolchain, default options (no stripping of WASI imports), once per test binary,
//! into a temporary directory. `tests/setup.sh` installs the toolchains: clang 19 and
//! wasi-libc (Debian), `componentize-js` (npm), `componentize-py` (PyPI). The C bindings and
//! the componentization step run in-process (`wit-bindgen-c`, `wit-component` with the
//! WASI reactor adapter), as `wit-bindgen c` and `wasm-tools component new` would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The repository root.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

fn out_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

/// Builds once per (language, source, world) and returns the component's path.
fn once(key: String, build: impl FnOnce(&Path) -> Result<(), String>) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    // Held across the build: two tests wanting the same component build it once.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let out = out_dir().join(format!("{name}.wasm"));
    if let Err(e) = build(&out) {
        panic!("building {key} failed: {e}\n(install the toolchains with tests/setup.sh)");
    }
    built.insert(key, out.clone());
    out
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{shown} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// `examples/js/<source>` built by `componentize-js` (default features) for `world`.
pub fn js(source: &str, world: &str) -> PathBuf {
    js_against(source, world, &workspace().join("wit"))
}

/// Like [`js`], against the WIT package in directory `wit`.
pub fn js_against(source: &str, world: &str, wit: &Path) -> PathBuf {
    once(format!("js:{source}:{world}:{}", wit.display()), |out| {
        run(Command::new("componentize-js")
            .arg(workspace().join("examples/js").join(source))
            .arg("--wit")
            .arg(wit)
            .args(["--world-name", world, "--out"])
            .arg(out))
    })
}

/// `examples/python/<dir>` (its `app.py`) built by `componentize-py` for `world`. The
/// sources are copied to the temporary directory first: componentize-py writes
/// `__pycache__` beside them whatever `PYTHONDONTWRITEBYTECODE` says.
pub fn python(dir: &str, world: &str) -> PathBuf {
    once(format!("py:{dir}:{world}"), |out| {
        let sources = out.with_extension("src");
        copy_files(&workspace().join("examples/python").join(dir), &sources)?;
        run(Command::new("componentize-py")
            .arg("--wit-path")
            .arg(workspace().join("wit"))
            .args(["--world", world, "componentize", "--python-path"])
            .arg(&sources)
            .args(["app", "--output"])
            .arg(out))
    })
}

/// Copies the regular files of `from` (not subdirectories) into a new directory `to`.
fn copy_files(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_file() {
            let name = path.file_name().unwrap_or_default();
            std::fs::copy(&path, to.join(name)).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// `examples/c/<dir>/*.c` compiled by clang against wasi-libc for `world`.
pub fn c(dir: &str, world: &str) -> PathBuf {
    once(format!("c:{dir}:{world}"), |out| {
        let gen_dir = out.with_extension("gen");
        std::fs::create_dir_all(&gen_dir).map_err(|e| e.to_string())?;
        c_bindings(world, &gen_dir)?;
        let source_dir = workspace().join("examples/c").join(dir);
        let mut sources: Vec<PathBuf> = std::fs::read_dir(&source_dir)
            .map_err(|e| format!("{}: {e}", source_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "c"))
            .collect();
        sources.sort();
        let stem = world.replace('-', "_");
        let core = out.with_extension("core.wasm");
        run(Command::new(clang())
            .args([
                "--target=wasm32-wasi",
                "-mexec-model=reactor",
                "-Os",
                "-Wall",
                "-Werror",
            ])
            .arg("-I")
            .arg(&gen_dir)
            .args(&sources)
            .arg(gen_dir.join(format!("{stem}.c")))
            .arg(gen_dir.join(format!("{stem}_component_type.o")))
            .arg("-o")
            .arg(&core))?;
        let module = std::fs::read(&core).map_err(|e| e.to_string())?;
        let component = wit_component::ComponentEncoder::default()
            .module(&module)
            .and_then(|e| {
                e.adapter(
                    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
                )
            })
            .and_then(|e| e.validate(true).encode())
            .map_err(|e| format!("component new: {e:#}"))?;
        std::fs::write(out, component).map_err(|e| e.to_string())
    })
}

/// `clang-19` where Debian installs it, else `clang` on the PATH.
fn clang() -> PathBuf {
    let debian = Path::new("/usr/bin/clang-19");
    if debian.exists() {
        debian.to_owned()
    } else {
        PathBuf::from("clang")
    }
}

/// What `wit-bindgen c wit --world WORLD --out-dir DIR` writes.
fn c_bindings(world: &str, dir: &Path) -> Result<(), String> {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_path(workspace().join("wit"))
        .map_err(|e| format!("{e:#}"))?;
    let world = resolve
        .select_world(&[package], Some(world))
        .map_err(|e| format!("{e:#}"))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| format!("{e:#}"))?;
    for (name, bytes) in files.iter() {
        std::fs::write(dir.join(name), bytes).map_err(|e| e.to_string())?;
    }
    Ok(())
}

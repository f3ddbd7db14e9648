//! Embeds every file under `static/` into the binary (the web UI works offline, from any
//! working directory, with no build step of its own).

use std::fmt::Write as _;
use std::path::Path;

fn collect(dir: &Path, base: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect(&p, base, out);
        } else if let Ok(rel) = p.strip_prefix(base) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    println!("cargo:rerun-if-changed=static");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let mut code = String::from("/// `(path, bytes)` of every UI file.\npub const FILES: &[(&str, &[u8])] = &[\n");
    for f in &files {
        let abs = root.join(f);
        let _ = writeln!(code, "    ({f:?}, include_bytes!({:?})),", abs.display().to_string());
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("static_files.rs");
    std::fs::write(out, code).expect("write static_files.rs");
}

fn main() {
    // The migrations are embedded by `sqlx::migrate!`; rebuild when one is added or changed.
    println!("cargo:rerun-if-changed=migrations");
    // Relative relocations packed (DT_RELR, glibc 2.36 and later, as in Debian 12): unpacked, the loader reads
    // 2 MB of them at every start and those pages of the binary stay resident (bench/README.md, memory under load).
    if std::env::var("TARGET").is_ok_and(|target| target.ends_with("-linux-gnu")) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

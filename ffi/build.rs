//! Link flags of `libhearth.so`: its SONAME (`libhearth.so.0`: the major ABI version, so
//! that an installed library can be upgraded in place), and on Android the 16 KB page
//! alignment that Android 15 devices require.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libhearth.so.0");
    }
    if os == "android" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,max-page-size=16384");
    }
}

//! harden_process, in a test binary of its own (it changes the process).

#[test]
fn the_daemon_process_cannot_be_dumped_and_creates_private_files() {
    assert!(nix::sys::prctl::get_dumpable().unwrap(), "dumpable before");
    vmware_vbmc::harden_process().unwrap();
    assert!(
        !nix::sys::prctl::get_dumpable().unwrap(),
        "not dumpable after"
    );
    let f = std::env::temp_dir().join(format!("vmware-vbmc-umask-{}", std::process::id()));
    std::fs::write(&f, "x").unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&f).unwrap().permissions());
    std::fs::remove_file(&f).unwrap();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

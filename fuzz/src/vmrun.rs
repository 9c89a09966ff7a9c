//! What `vmrun` prints (fence_vmware's vmrun mode): its version banner and
//! its `list` / `listRegisteredVM` output.
//!
//! What must hold: a list is taken only with as many VM lines as its
//! header says, none empty, and a list written as vmrun writes it reads
//! back line for line; a banner's version is the number written after
//! `vmrun version `.

use fence_vmware::vmrun::{banner_version, vm_lines};

use crate::Fields;

/// Fields: the whole input as output; then VM lines, the first field
/// choosing the header's words and the version.
pub fn vmrun_output(data: &[u8]) {
    let whole = String::from_utf8_lossy(data);
    if let Ok(vms) = vm_lines(&whole) {
        assert!(vms.iter().all(|l| !l.is_empty() && !l.contains('\n')));
        let header = whole.lines().next().unwrap_or("");
        let count: usize = header
            .rsplit_once(':')
            .and_then(|(_, n)| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("a list taken without a count: {header:?}"));
        assert_eq!(count, vms.len());
    }
    if let Some(n) = banner_version(&whole) {
        let lower = whole.to_ascii_lowercase();
        assert!(
            lower.contains(&format!("vmrun version {n}.")) || lower.contains("vmrun version 0"),
            "version {n} read from {whole:?}"
        );
    }

    let f = Fields::new(data);
    let choice = f.byte(0);
    let version = u32::from(choice);
    assert_eq!(
        banner_version(&format!("vmrun version {version}.0.2 build-116503\n")),
        Some(version)
    );
    let vms: Vec<String> = f
        .rest(1)
        .into_iter()
        .filter(|l| !l.is_empty() && !l.contains('\n') && !l.ends_with('\r'))
        .collect();
    let header = if choice.is_multiple_of(2) {
        "Total running VMs"
    } else {
        "Total registered VMs"
    };
    let mut output = format!("{header}: {}\n", vms.len());
    for l in &vms {
        output.push_str(l);
        output.push('\n');
    }
    assert_eq!(vm_lines(&output).as_ref(), Ok(&vms), "from {output:?}");
}

//! How a VM boots, whatever the API: its boot order, its firmware, and
//! the order that puts a chosen kind of device first.
//!
//! vSphere keeps one boot order per VM (vim25
//! `config.bootOptions.bootOrder`, since API 5.0; the Automation API's
//! `vm/hardware/boot/device`): a list of bootable devices the firmware
//! tries in turn, "until the virtual machine boots successfully"; an
//! empty list is the firmware's own default sequence. A disk or a network
//! adapter is named by its device key (`config.hardware.device[].key`); a
//! CD-ROM or floppy entry names no device, and the firmware picks the
//! drive. The order applies to every boot: vSphere has no one-shot boot
//! device.

use std::fmt;

/// The kinds of device a boot order can name (vim25
/// `VirtualMachineBootOptionsBootable{Cdrom,Disk,Ethernet,Floppy}Device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootClass {
    Cdrom,
    Disk,
    /// A network adapter: a PXE boot.
    Ethernet,
    Floppy,
}

impl BootClass {
    pub fn word(self) -> &'static str {
        match self {
            BootClass::Cdrom => "CD-ROM",
            BootClass::Disk => "disk",
            BootClass::Ethernet => "network adapter",
            BootClass::Floppy => "floppy drive",
        }
    }
}

impl fmt::Display for BootClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A device's key in the VM's hardware list
/// (`config.hardware.device[].key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey(pub i32);

/// One entry of a boot order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootEntry {
    /// Any CD-ROM drive of the VM: the firmware picks.
    Cdrom,
    /// Any floppy drive of the VM: the firmware picks.
    Floppy,
    /// This virtual disk.
    Disk(DeviceKey),
    /// This network adapter (PXE).
    Ethernet(DeviceKey),
    /// An entry of a type this code does not know (its type name): kept
    /// where it is, never interpreted.
    Other(String),
}

impl BootEntry {
    pub fn class(&self) -> Option<BootClass> {
        match self {
            BootEntry::Cdrom => Some(BootClass::Cdrom),
            BootEntry::Floppy => Some(BootClass::Floppy),
            BootEntry::Disk(_) => Some(BootClass::Disk),
            BootEntry::Ethernet(_) => Some(BootClass::Ethernet),
            BootEntry::Other(_) => None,
        }
    }
}

impl fmt::Display for BootEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootEntry::Cdrom => f.write_str("cdrom"),
            BootEntry::Floppy => f.write_str("floppy"),
            BootEntry::Disk(k) => write!(f, "disk {}", k.0),
            BootEntry::Ethernet(k) => write!(f, "ethernet {}", k.0),
            BootEntry::Other(t) => write!(f, "{t:?}"),
        }
    }
}

/// A boot order as one line for messages: `ethernet 4000, disk 2000`,
/// or `(empty: the firmware's own order)`.
pub fn describe_order(order: &[BootEntry]) -> String {
    if order.is_empty() {
        return "(empty: the firmware's own order)".into();
    }
    order
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The VM's firmware (vim25 `config.firmware`, values of
/// `GuestOsDescriptorFirmwareType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Efi,
    /// A word this mapping does not know, or none given.
    Other(String),
}

impl Firmware {
    pub fn parse(word: &str) -> Firmware {
        match word.trim() {
            "bios" | "BIOS" => Firmware::Bios,
            "efi" | "EFI" => Firmware::Efi,
            other => Firmware::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Firmware::Bios => f.write_str("bios"),
            Firmware::Efi => f.write_str("efi"),
            Firmware::Other(w) if w.is_empty() => f.write_str("(not given)"),
            Firmware::Other(w) => write!(f, "{w:?}"),
        }
    }
}

/// One read of what decides how a VM boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootReading {
    pub order: Vec<BootEntry>,
    pub firmware: Firmware,
    /// The devices the VM has that a boot order can name, in the order of
    /// its hardware list: each disk and network adapter with its key, and
    /// one `Cdrom` or `Floppy` entry when it has such a drive.
    pub bootable: Vec<BootEntry>,
}

/// What a VM boots from first, as the device reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSetting {
    /// `None`: the boot order is empty, the firmware's own order rules.
    pub first: Option<BootClass>,
    pub firmware: Firmware,
}

/// What the boot order should become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootTarget {
    /// Empty: the firmware's own order.
    FirmwareOrder,
    /// A device of `class` first. `efi` is the kind of boot asked for: the
    /// VM's firmware must be of that kind, since changing it is not a
    /// change of boot device (a guest installed for BIOS does not boot with
    /// EFI firmware, nor the reverse).
    First { class: BootClass, efi: bool },
}

impl fmt::Display for BootTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootTarget::FirmwareOrder => f.write_str("the firmware's own order"),
            BootTarget::First { class, efi } => write!(
                f,
                "{class} first ({} boot)",
                if *efi { "EFI" } else { "BIOS" }
            ),
        }
    }
}

impl BootReading {
    /// What the VM boots from first; `Err` (with why) when the order starts
    /// with an entry no boot device class names.
    pub fn setting(&self) -> Result<BootSetting, String> {
        let first = match self.order.first() {
            None => None,
            Some(entry) => Some(entry.class().ok_or_else(|| {
                format!(
                    "the boot order starts with {entry}, which is no CD-ROM, disk, network \
                     adapter or floppy drive"
                )
            })?),
        };
        Ok(BootSetting {
            first,
            firmware: self.firmware.clone(),
        })
    }

    /// The boot order that gives `target`, or why there is none.
    ///
    /// A class moves to the front as the order already names it: the disks
    /// (or adapters) it lists that the VM still has, in their order; when
    /// it names none, every one the VM has joins, in hardware order. The
    /// rest of the order follows unchanged, so what was tried after the
    /// old first device is still tried.
    pub fn order_for(&self, target: BootTarget) -> Result<Vec<BootEntry>, String> {
        let (class, efi) = match target {
            BootTarget::FirmwareOrder => return Ok(Vec::new()),
            BootTarget::First { class, efi } => (class, efi),
        };
        let firmware_fits = match self.firmware {
            Firmware::Efi => efi,
            Firmware::Bios => !efi,
            Firmware::Other(_) => false,
        };
        if !firmware_fits {
            return Err(format!(
                "an {} boot was asked for, and the VM's firmware is {}: its boot order cannot \
                 change that",
                if efi { "EFI" } else { "BIOS (legacy)" },
                self.firmware
            ));
        }
        let has = |e: &BootEntry| self.bootable.contains(e);
        let mut front: Vec<BootEntry> = self
            .order
            .iter()
            .filter(|e| e.class() == Some(class) && has(e))
            .cloned()
            .collect();
        if front.is_empty() {
            front = self
                .bootable
                .iter()
                .filter(|e| e.class() == Some(class))
                .cloned()
                .collect();
        }
        if front.is_empty() {
            return Err(format!("the VM has no {class} to boot from"));
        }
        front.extend(
            self.order
                .iter()
                .filter(|e| e.class() != Some(class))
                .cloned(),
        );
        Ok(front)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(order: Vec<BootEntry>) -> BootReading {
        BootReading {
            order,
            firmware: Firmware::Bios,
            bootable: vec![
                BootEntry::Disk(DeviceKey(2000)),
                BootEntry::Cdrom,
                BootEntry::Disk(DeviceKey(2001)),
                BootEntry::Ethernet(DeviceKey(4000)),
                BootEntry::Ethernet(DeviceKey(4001)),
            ],
        }
    }

    fn first(class: BootClass) -> BootTarget {
        BootTarget::First { class, efi: false }
    }

    #[test]
    fn from_the_firmware_order_every_device_of_the_class_joins_in_hardware_order() {
        let r = reading(Vec::new());
        assert_eq!(
            r.order_for(first(BootClass::Ethernet)),
            Ok(vec![
                BootEntry::Ethernet(DeviceKey(4000)),
                BootEntry::Ethernet(DeviceKey(4001))
            ])
        );
        assert_eq!(
            r.order_for(first(BootClass::Disk)),
            Ok(vec![
                BootEntry::Disk(DeviceKey(2000)),
                BootEntry::Disk(DeviceKey(2001))
            ])
        );
        assert_eq!(
            r.order_for(first(BootClass::Cdrom)),
            Ok(vec![BootEntry::Cdrom])
        );
        assert_eq!(r.order_for(BootTarget::FirmwareOrder), Ok(Vec::new()));
    }

    #[test]
    fn a_class_the_order_names_moves_to_the_front_as_named_and_the_rest_follows() {
        let r = reading(vec![
            BootEntry::Cdrom,
            BootEntry::Disk(DeviceKey(2001)),
            BootEntry::Other("VirtualMachineBootOptionsBootableNvmeDevice".into()),
            BootEntry::Ethernet(DeviceKey(4001)),
        ]);
        assert_eq!(
            r.order_for(first(BootClass::Ethernet)),
            Ok(vec![
                BootEntry::Ethernet(DeviceKey(4001)),
                BootEntry::Cdrom,
                BootEntry::Disk(DeviceKey(2001)),
                BootEntry::Other("VirtualMachineBootOptionsBootableNvmeDevice".into()),
            ]),
            "only the adapter the order chose, not every adapter"
        );
        assert_eq!(
            r.order_for(first(BootClass::Cdrom)),
            Ok(r.order.clone()),
            "already first: the same order"
        );
    }

    #[test]
    fn a_device_the_vm_no_longer_has_is_replaced_by_those_it_has() {
        let r = reading(vec![BootEntry::Disk(DeviceKey(2999)), BootEntry::Cdrom]);
        assert_eq!(
            r.order_for(first(BootClass::Disk)),
            Ok(vec![
                BootEntry::Disk(DeviceKey(2000)),
                BootEntry::Disk(DeviceKey(2001)),
                BootEntry::Cdrom
            ])
        );
    }

    #[test]
    fn a_class_the_vm_lacks_is_refused() {
        let r = reading(Vec::new());
        let e = r.order_for(first(BootClass::Floppy)).unwrap_err();
        assert!(e.contains("no floppy drive"), "{e}");
    }

    #[test]
    fn the_boot_kind_asked_for_must_be_the_firmwares() {
        let mut r = reading(Vec::new());
        let efi = BootTarget::First {
            class: BootClass::Disk,
            efi: true,
        };
        let e = r.order_for(efi).unwrap_err();
        assert!(
            e.contains("EFI boot") && e.contains("firmware is bios"),
            "{e}"
        );
        r.firmware = Firmware::Efi;
        assert!(r.order_for(efi).is_ok());
        let e = r.order_for(first(BootClass::Disk)).unwrap_err();
        assert!(
            e.contains("BIOS (legacy) boot") && e.contains("is efi"),
            "{e}"
        );
        r.firmware = Firmware::Other(String::new());
        assert!(r.order_for(efi).is_err());
        assert!(r.order_for(first(BootClass::Disk)).is_err());
        // Clearing the order changes no firmware: always possible.
        assert_eq!(r.order_for(BootTarget::FirmwareOrder), Ok(Vec::new()));
    }

    #[test]
    fn the_setting_is_the_first_entrys_class() {
        let r = reading(vec![BootEntry::Ethernet(DeviceKey(4001)), BootEntry::Cdrom]);
        assert_eq!(
            r.setting(),
            Ok(BootSetting {
                first: Some(BootClass::Ethernet),
                firmware: Firmware::Bios
            })
        );
        assert_eq!(reading(Vec::new()).setting().unwrap().first, None);
        let e = reading(vec![BootEntry::Other("X".into())])
            .setting()
            .unwrap_err();
        assert!(e.contains("starts with \"X\""), "{e}");
    }
}

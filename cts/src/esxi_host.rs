//! A fake ESXi host: OpenSSH sshd and dropbear on loopback with a fake vim-cmd.

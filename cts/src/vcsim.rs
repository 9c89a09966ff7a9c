//! VMware's vSphere simulator (govmomi), built from cts/vcsim and run on loopback.

mod vcsim_support;
mod vsphere;

# RPM %post of vps-provider: makes the task folder, root-only (0700). Task files hold the root
# passwords of ordered servers until the panel has them, so nobody else may read them; the mode is
# also tightened on an existing folder. (A scriptlet, not a packaged directory: cargo-generate-rpm
# 0.21 cannot package an empty directory.) It enables no provider: that is `vps-provider install`.
mkdir -p /var/lib/vps-provider
chown root:root /var/lib/vps-provider
chmod 0700 /var/lib/vps-provider

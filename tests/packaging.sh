#!/usr/bin/env bash
# Checks the built packages (`scripts/release` puts them in target/packages/; another folder may
# be given as the first argument). It builds nothing. The .deb is installed on this machine with
# dpkg and used as an operator would: --version, list, install a provider into a temporary root,
# uninstall it, edit a config file and reinstall the package (the edit must survive), then remove
# and purge it (nothing may be left). The .rpm is read with rpm (metadata, requires, files, modes,
# config files), unpacked with rpm2cpio | cpio, then installed, reinstalled and erased with rpm
# (its database in a scratch folder). Needs root. Every step prints what it checked; the machine
# is left as it was found, also when a check fails (trap).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=${1:-target/packages}
NAME=vps-provider
# Every run of the binary stays on this machine: no hoster is ever reached from this test.
export VPS_PROVIDER_BASE_URL=http://127.0.0.1:9 VPS_PROVIDER_SSH_CHECK=off
unset VPS_PROVIDER_DIR VPS_PROVIDER_SECRETS VPS_PROVIDER_STATE_DIR VPS_PROVIDER_LOG_DIR

checks=0
ok() { checks=$((checks + 1)); printf '  ok  %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }
# same WHAT EXPECTED ACTUAL: one check of two texts, with both shown when they differ.
same() {
    if [[ $2 == "$3" ]]; then ok "$1"; else fail "$1"$'\n--- expected\n'"$2"$'\n--- got\n'"$3"; fi
}
mode_of() { stat -c '%a %U:%G' "$1"; }
# Whether dpkg has the package in any state but "not-installed" (config files left count).
dpkg_has() {
    local state
    state=$(dpkg-query -W -f='${db:Status-Status}' "$NAME" 2>/dev/null) || return 1
    [[ -n $state && $state != not-installed ]]
}

for tool in dpkg dpkg-deb rpm rpm2cpio cpio cargo; do
    command -v "$tool" >/dev/null || fail "missing tool: $tool (scripts/release installs it)"
done
[[ $(id -u) == 0 ]] || fail "dpkg needs root"
version=$(cargo pkgid | sed 's/.*[#@]//')

shopt -s nullglob
debs=("$PACKAGES/${NAME}_${version}"-*_amd64.deb)
rpms=("$PACKAGES/$NAME-$version"-*.x86_64.rpm)
shopt -u nullglob
((${#debs[@]} == 1)) || fail "want one $NAME $version .deb in $PACKAGES/, found ${#debs[@]} (run scripts/release)"
((${#rpms[@]} == 1)) || fail "want one $NAME $version .rpm in $PACKAGES/, found ${#rpms[@]} (run scripts/release)"
deb=${debs[0]}
rpm=${rpms[0]}

# The package must be installed by this test alone, or cleaning up would take away someone
# else's installation: refuse to start on a machine that has it.
if dpkg_has; then
    fail "$NAME is already installed here; this test installs and purges it (dpkg --purge $NAME first)"
fi
# What either package installs: absent now, so whatever is there when the test ends is its own.
owned_paths=(/etc/vps-provider /var/lib/vps-provider /usr/bin/vps-provider /usr/share/vps-provider
    /usr/share/doc/vps-provider /usr/share/licenses/vps-provider /usr/share/man/man1/vps-provider.1.gz)
for path in "${owned_paths[@]}"; do
    [[ ! -e $path ]] || fail "$path exists; this test would remove it (it runs on a machine without $NAME)"
done
panel_before=$(ls -A /opt/webdir/providers 2>/dev/null || true)

scratch=$(mktemp -d)
cleanup() {
    local status=$?
    if dpkg_has; then
        dpkg --purge "$NAME" >/dev/null 2>&1 || true
    fi
    if [[ -d $scratch/rpmdb ]] && command rpm --dbpath "$scratch/rpmdb" -q "$NAME" >/dev/null 2>&1; then
        command rpm --dbpath "$scratch/rpmdb" -e --nodeps "$NAME" >/dev/null 2>&1 || true
    fi
    rm -rf "${owned_paths[@]}" "$scratch"
    exit "$status"
}
trap cleanup EXIT

# The files both packages install, and their modes: config files 0644, the binary 0755.
provider_files=(billmgr digitalocean hetzner linode openstack regru timeweb vultr yandex)
conffiles=$(printf '/etc/vps-provider/providers.d/%s.yaml\n' "${provider_files[@]}")
common_files=$(printf '%s\n' "$conffiles" \
    /usr/bin/vps-provider \
    /usr/share/doc/vps-provider/README.md \
    /usr/share/doc/vps-provider/examples/demo.yaml \
    /usr/share/doc/vps-provider/providers.md \
    /usr/share/doc/vps-provider/protocol.md \
    /usr/share/doc/vps-provider/writing-a-provider.md \
    /usr/share/man/man1/vps-provider.1.gz \
    /usr/share/vps-provider/provider.schema.json)

# --- the .deb -----------------------------------------------------------------------------------
step "deb: $deb"
same "control: Package" "$NAME" "$(dpkg-deb -f "$deb" Package)"
same "control: Version is Cargo.toml's ($version) plus a revision" "$version" \
    "$(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//')"
same "control: Architecture" "amd64" "$(dpkg-deb -f "$deb" Architecture)"
same "control: Depends" "libc6 (>= 2.17)" "$(dpkg-deb -f "$deb" Depends)"
[[ -n $(dpkg-deb -f "$deb" Maintainer) && -n $(dpkg-deb -f "$deb" Description) ]] ||
    fail "control: Maintainer and Description are set"
ok "control: Maintainer and Description are set"

step "dpkg -i"
dpkg -i "$deb" </dev/null >/dev/null
same "dpkg: installed" "install ok installed" "$(dpkg-query -W -f='${Status}' "$NAME")"
installed_files=$(dpkg -L "$NAME" | while read -r path; do [[ -f $path ]] && echo "$path"; done | sort)
same "file list (files only)" \
    "$(printf '%s\n' "$common_files" /usr/share/doc/vps-provider/copyright | sort)" "$installed_files"
same "conffiles: the shipped provider files, nothing else" "$conffiles" \
    "$(dpkg-query -W -f='${Conffiles}\n' "$NAME" | awk 'NF {print $1}' | sort)"
same "mode: /usr/bin/vps-provider" "755 root:root" "$(mode_of /usr/bin/vps-provider)"
for file in $conffiles; do
    same "mode: $file" "644 root:root" "$(mode_of "$file")"
done
same "mode: /var/lib/vps-provider (task files hold root passwords)" "700 root:root" \
    "$(mode_of /var/lib/vps-provider)"
[[ ! -e /etc/vps-provider/providers.d/demo.yaml ]] || fail "the demo provider is not under /etc"
ok "the demo provider is not under /etc (an example in /usr/share/doc)"
grep -q 'MIT License' /usr/share/doc/vps-provider/copyright || fail "copyright file is the MIT license"
ok "copyright file is the MIT license"
same "man page: gzipped, the one the binary prints" "$(vps-provider man)" \
    "$(zcat /usr/share/man/man1/vps-provider.1.gz)"
same "schema: the one the binary prints" "$(vps-provider schema)" \
    "$(cat /usr/share/vps-provider/provider.schema.json)"
same "no provider enabled: nothing under /opt/webdir/providers" "$panel_before" \
    "$(ls -A /opt/webdir/providers 2>/dev/null || true)"
if dpkg -L "$NAME" | grep -q '^/opt'; then fail "the package ships nothing under /opt"; fi
ok "the package ships nothing under /opt"

step "the installed binary"
same "vps-provider --version" "vps-provider $version" "$(vps-provider --version)"
root=$scratch/providers
listed=$(vps-provider list --root "$root")
printf '%s\n' "$listed" | sed 's/^/    /'
# `list` prints name, file, installed or not, state, description, separated by tabs.
same "list: the five shipped providers from /etc/vps-provider/providers.d, none installed, no demo" \
    "$(for p in "${provider_files[@]}"; do printf '%s\t/etc/vps-provider/providers.d/%s.yaml\tnot installed\n' "$p" "$p"; done)" \
    "$(cut -f1-3 <<<"$listed" | sort)"
vps-provider validate >/dev/null
ok "validate: every installed provider file is valid"

step "vps-provider install hetzner --root $root"
vps-provider install hetzner --root "$root" | sed 's/^/    /'
plugin=$root/hetzner/bin/hetzner
secrets=$root/hetzner/etc/hetzner.conf
[[ -L $plugin ]] || fail "$plugin is a symlink"
same "plugin: a symlink to /usr/bin/vps-provider" "/usr/bin/vps-provider" "$(readlink "$plugin")"
same "secrets template: mode 0600" "600 root:root" "$(mode_of "$secrets")"
grep -q '^token=$' "$secrets" || fail "secrets template asks for the token (token=)"
ok "secrets template asks for the token (token=)"
# The panel's first call, through the symlink: no token yet, so the provider says it is disabled.
same "the plugin answers help: disabled until the token is written" \
    '{"options":["help","configs","order","order_status"],"status":"disabled"}' \
    "$(VPS_PROVIDER_SECRETS=$secrets "$plugin" help)"
same "list --root: hetzner installed" "installed" \
    "$(vps-provider list --root "$root" | awk -F'\t' '$1 == "hetzner" {print $3}')"

step "vps-provider uninstall hetzner --root $root"
vps-provider uninstall hetzner --root "$root" | sed 's/^/    /'
[[ ! -e $plugin && ! -L $plugin ]] || fail "uninstall removes the symlink"
ok "uninstall removes the symlink"
[[ ! -e $secrets ]] || fail "uninstall removes the untouched secrets template"
ok "uninstall removes the untouched secrets template"

step "an operator's edit of a config file survives reinstalling the package"
edited=/etc/vps-provider/providers.d/hetzner.yaml
marker="# operator edit $$-$RANDOM"
echo "$marker" >>"$edited"
dpkg -i "$deb" </dev/null >/dev/null
same "dpkg: installed again" "install ok installed" "$(dpkg-query -W -f='${Status}' "$NAME")"
same "the edit is still there" "$marker" "$(tail -n 1 "$edited")"
same "mode: $edited" "644 root:root" "$(mode_of "$edited")"

step "dpkg --purge keeps task records (servers that were bought)"
record=/var/lib/vps-provider/hetzner/1700000000000.json
mkdir -m 0700 "$(dirname "$record")"
echo '{"note": "a task record made by tests/packaging.sh"}' >"$record"
purge_said=$(dpkg --purge "$NAME" </dev/null 2>&1)
[[ -f $record ]] || fail "purge keeps a task record"
ok "purge keeps a task record"
grep -q 'kept /var/lib/vps-provider' <<<"$purge_said" || fail "purge says it kept the task folder"
ok "purge says it kept the task folder"
[[ ! -e /usr/bin/vps-provider && ! -e /etc/vps-provider ]] || fail "purge removes everything else"
ok "purge removes everything else"
# What the operator would do once the record is not needed: here the record is the test's own.
rm -rf /var/lib/vps-provider
dpkg -i "$deb" </dev/null >/dev/null
same "dpkg: installed again" "install ok installed" "$(dpkg-query -W -f='${Status}' "$NAME")"

step "dpkg -r, then dpkg --purge"
dpkg -r "$NAME" </dev/null >/dev/null
[[ ! -e /usr/bin/vps-provider ]] || fail "remove: the binary is gone"
ok "remove: the binary is gone"
same "remove: config files are kept until purge" "$conffiles" \
    "$(find /etc/vps-provider -type f | sort)"
same "remove: dpkg's state" "config-files" "$(dpkg-query -W -f='${db:Status-Status}' "$NAME")"
dpkg_has || fail "dpkg_has sees a removed package with config files"
dpkg --purge "$NAME" </dev/null >/dev/null
if dpkg_has; then
    fail "purge: dpkg no longer knows the package"
fi
ok "purge: dpkg no longer knows the package"
for path in $common_files /usr/share/doc/vps-provider /usr/share/vps-provider /etc/vps-provider \
    /var/lib/vps-provider; do
    [[ ! -e $path ]] || fail "purge: $path is gone"
done
ok "purge: every file and folder of the package is gone, the empty task folder too"

# --- the .rpm -----------------------------------------------------------------------------------
step "rpm: $rpm"
# Every rpm call uses a database in the scratch folder: even a query of a package file makes
# rpm create its default database (~/.rpmdb on Debian), which would be left on the machine.
rpmdb=$scratch/rpmdb
rpm() { command rpm --dbpath "$rpmdb" "$@"; }
rpm -qip "$rpm" 2>/dev/null | sed 's/^/    /'
query() { rpm -qp --queryformat "$1" "$rpm" 2>/dev/null; }
same "Name" "$NAME" "$(query '%{NAME}')"
same "Version (Cargo.toml)" "$version" "$(query '%{VERSION}')"
same "License" "MIT" "$(query '%{LICENSE}')"
same "Arch" "x86_64" "$(query '%{ARCH}')"
[[ -n $(query '%{SUMMARY}') ]] || fail "Summary is set"
ok "Summary is set"

requires=$(rpm -qp --requires "$rpm" 2>/dev/null | sort)
printf '%s\n' "$requires" | sed 's/^/    requires: /'
grep -qx 'glibc >= 2.17' <<<"$requires" || fail "requires glibc >= 2.17"
ok "requires glibc >= 2.17"
# rpm 4.11 (CentOS 7) cannot read a zstd payload; nothing may require a newer rpm than it has.
if grep -q 'PayloadIsZstd\|PayloadIsLzma' <<<"$requires"; then fail "payload readable by rpm 4.11"; fi
same "payload compression: gzip (rpm 4.11 reads it)" "gzip" "$(query '%{PAYLOADCOMPRESSOR}')"
# rpm's own: its config files (as rpmbuild adds), the scriptlets' shell, package format features.
others=$(grep -v -x -e 'glibc >= 2.17' -e '/bin/sh' -e 'rpmlib(.*' \
    -e "config($NAME) = $version-[0-9]*" <<<"$requires" || true)
same "requires nothing else but /bin/sh (scriptlets), config($NAME) and rpmlib features" "" "$others"

rpm_files=$(rpm -qlp "$rpm" 2>/dev/null | sort)
same "file list: the same files as the .deb, and the license" \
    "$(printf '%s\n' "$common_files" /usr/share/licenses/vps-provider/LICENSE | sort)" \
    "$rpm_files"
same "%config(noreplace): the shipped provider files, nothing else" \
    "$(for file in $conffiles; do echo "cn $file"; done)" \
    "$(query '[%{FILEFLAGS:fflags}\t%{FILENAMES}\n]' | awk -F'\t' '$1 ~ /c/ {print $1, $2}' | sort -k2)"
modes=$(query '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]')
check_mode() { # check_mode PERMS PATH
    same "mode: $2" "$1 root:root" "$(awk -v p="$2" '$3 == p {print $1, $2}' <<<"$modes")"
}
check_mode -rwxr-xr-x /usr/bin/vps-provider
for file in $conffiles; do check_mode -rw-r--r-- "$file"; done
# The task folder is made by %post (0700) and removed by %postun on erase only when empty.
scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
grep -q '^chmod 0700 /var/lib/vps-provider$' <<<"$scripts" || fail "%post makes /var/lib/vps-provider 0700"
ok "%post makes /var/lib/vps-provider 0700"
grep -q 'rmdir /var/lib/vps-provider' <<<"$scripts" || fail "%postun removes the task folder only when empty"
ok "%postun removes the task folder only when empty (rmdir)"
rpm -K "$rpm" >/dev/null 2>&1 || fail "digests verify (rpm -K)"
ok "digests verify (rpm -K)"

step "rpm2cpio | cpio"
unpacked=$scratch/rpm-root
mkdir -p "$unpacked"
payload=$scratch/payload.cpio
# rpm2cpio exits 1 after writing the whole payload when the package has no archive-size tag,
# which cargo-generate-rpm (the rpm crate) does not write; rpm itself does not need that tag to
# install. So its status is not the check: cpio reading the archive to its trailer is.
rpm2cpio "$rpm" >"$payload" || true
cpio_list=$(cpio -t --quiet <"$payload" | sed 's|^\./|/|' | sort) || fail "cpio reads the payload to its end"
same "cpio -t: the same paths as rpm -qlp" "$rpm_files" "$cpio_list"
(cd "$unpacked" && cpio -idm --quiet <"$payload")
same "unpacked binary: the one in the .deb" \
    "$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/vps-provider | sha256sum | cut -d' ' -f1)" \
    "$(sha256sum <"$unpacked/usr/bin/vps-provider" | cut -d' ' -f1)"
same "unpacked binary: --version" "vps-provider $version" "$("$unpacked/usr/bin/vps-provider" --version)"
for provider in "${provider_files[@]}"; do
    cmp -s "$unpacked/etc/vps-provider/providers.d/$provider.yaml" "providers.d/$provider.yaml" ||
        fail "unpacked $provider.yaml is providers.d/$provider.yaml"
done
ok "unpacked provider files are the ones in providers.d/"

step "rpm -i on this machine (rpm's database in the scratch folder), edit, reinstall, erase"
# A real rpm transaction with its scriptlets, as on a pool server. --nodeps: glibc and /bin/sh are
# Debian's here, not in that database. Debian's rpm warns on every call that it is not Debian's
# installer: that is not shown, but any error is.
rpm_here() { rpm "$@" 2>"$scratch/rpm.err" || fail "rpm $*: $(cat "$scratch/rpm.err")"; }
rpm_here --initdb
rpm_here -i --nodeps "$rpm"
same "rpm -q" "$NAME-$version-$(query '%{RELEASE}').x86_64" "$(rpm -q "$NAME" 2>/dev/null)"
rpm_here -V --nodeps "$NAME"
ok "rpm -V: every installed file matches the package (modes, owners, digests)"
same "installed mode: /usr/bin/vps-provider" "755 root:root" "$(mode_of /usr/bin/vps-provider)"
for file in $conffiles; do
    same "installed mode: $file" "644 root:root" "$(mode_of "$file")"
done
same "%post: /var/lib/vps-provider" "700 root:root" "$(mode_of /var/lib/vps-provider)"
same "vps-provider --version" "vps-provider $version" "$(vps-provider --version)"
echo "$marker" >>"$edited"
rpm_here -U --replacepkgs --nodeps "$rpm"
same "reinstalled: the edit is still there" "$marker" "$(tail -n 1 "$edited")"
rpm_here -e --nodeps "$NAME"
# rpm keeps an edited config file as .rpmsave on erase; %postun removes the package's folders
# that are empty (all but the one holding that file).
same "erase: of /etc/vps-provider only the edited config file is kept, as .rpmsave" \
    "$edited.rpmsave" "$(find /etc/vps-provider ! -type d)"
for path in $common_files /usr/share/licenses/vps-provider /usr/share/doc/vps-provider \
    /usr/share/vps-provider /var/lib/vps-provider; do
    [[ ! -e $path ]] || fail "erase: $path is gone"
done
ok "erase: every other file and folder of the package is gone, the empty task folder too"
rm -r /etc/vps-provider # the test's own edit

printf '\npackaging: %d passed, 0 failed\n' "$checks"

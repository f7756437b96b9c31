# RPM %postun of vps-provider. On erase ($1 is 0; 1 on upgrade) it removes the package's own
# folders when they are empty: cargo-generate-rpm 0.21.1 cannot list directories in a package, so
# rpm does not know they are the package's and would leave them behind. A folder that still holds
# something stays: an operator's own provider files, an edited config kept as .rpmsave, and task
# files, the record of servers that were bought (never deleted by the package manager).
if [ "$1" = 0 ]; then
    for dir in /usr/share/doc/vps-provider/examples /usr/share/doc/vps-provider \
        /usr/share/licenses/vps-provider /usr/share/vps-provider \
        /etc/vps-provider/providers.d /etc/vps-provider; do
        [ -d "$dir" ] && rmdir "$dir" 2>/dev/null
    done
    if [ -d /var/lib/vps-provider ] && ! rmdir /var/lib/vps-provider 2>/dev/null; then
        echo "vps-provider: kept /var/lib/vps-provider: it holds task records (remove it by hand)" >&2
    fi
fi
exit 0

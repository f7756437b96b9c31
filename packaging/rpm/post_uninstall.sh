# RPM %postun of vps-provider: on erase ($1 is 0; 1 on upgrade), removes the task folder only when
# it is empty. Task files are the record of servers that were bought (and are being paid for), so
# they are never deleted by the package manager; an operator removes them by hand.
if [ "$1" = 0 ] && [ -d /var/lib/vps-provider ] && ! rmdir /var/lib/vps-provider 2>/dev/null; then
    echo "vps-provider: kept /var/lib/vps-provider: it holds task records (remove it by hand)" >&2
fi
exit 0

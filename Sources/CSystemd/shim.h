// Shim only: sd_notify / watchdog and the native journal protocol.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

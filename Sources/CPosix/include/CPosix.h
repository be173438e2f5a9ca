// CPosix — the few Linux calls Swift's Glibc module does not expose, and the one piece of
// code that must run inside a fatal-signal handler (only async-signal-safe calls there).
#ifndef CPOSIX_H
#define CPOSIX_H

#include <stddef.h>

/// renameat2(2) with RENAME_EXCHANGE: atomically swaps two existing entries. 0 or -1 (errno).
int cposix_rename_exchange(int old_directory, const char *old_name, int new_directory, const char *new_name);

/// renameat2(2) with RENAME_NOREPLACE: fails with EEXIST instead of replacing. 0 or -1 (errno).
int cposix_rename_noreplace(int old_directory, const char *old_name, int new_directory, const char *new_name);

/// Whether some process has the regular file `name` (relative to `directory`, not followed if a
/// symbolic link) open for writing: 1 yes, 0 no, -1 cannot tell (errno says why: EACCES or EPERM
/// for another owner's file without CAP_LEASE, EOPNOTSUPP on a file system whose leases do not
/// say that, such as NFS or CIFS (only ext2/3/4, xfs, btrfs, tmpfs, overlayfs, zfs and f2fs are
/// trusted), EINVAL when it is not a regular file). It takes a read lease (fcntl F_SETLEASE F_RDLCK),
/// which the kernel grants exactly when no process holds the file open for writing, and
/// releases it at once. The file is opened O_RDONLY | O_NONBLOCK | O_NOFOLLOW, so a FIFO or a
/// link swapped in cannot block or redirect the probe; nothing is read.
int cposix_open_for_writing(int directory, const char *name);

/// glibc's malloc_trim(0): gives free heap memory back to the kernel. 1 when memory was released.
int cposix_malloc_trim(void);

/// glibc's mallopt(M_ARENA_MAX, 1): every thread allocates from the main heap (1 on success).
/// Called first thing by the executable: the engine's loops run on libgomp's worker thread
/// too, and a buffer that thread allocated came from an arena of its own, whose free memory
/// the main thread's later requests could not reuse; the cascade's training step peaked at
/// 669 MB instead of 576. The engine's large buffers are pooled, so one heap's lock costs
/// nothing measurable.
int cposix_single_malloc_arena(void);

/// Installs handlers for SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE and SIGABRT that write
/// "signal=<n>\n" followed by the current note (see cposix_crash_note_set) at offset 0 of
/// `descriptor`, fsync it, then restore the previous handler and re-raise, so the process
/// still dies of the same signal (and Swift's own crash report still runs). 0 on success.
int cposix_crash_note_install(int descriptor);

/// Sets the note written on a fatal signal (copied, at most 1023 bytes; NULL clears it).
/// Called from the work loop between stages; the handler reads it without locks, and a torn
/// read at the exact moment of a crash costs only the note's accuracy.
void cposix_crash_note_set(const char *text);

#endif

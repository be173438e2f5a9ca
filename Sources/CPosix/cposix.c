#define _GNU_SOURCE
#include "CPosix.h"
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int rename2(int od, const char *o, int nd, const char *n, unsigned flags) {
    return (int)syscall(SYS_renameat2, od, o, nd, n, flags);
}

int cposix_rename_exchange(int od, const char *o, int nd, const char *n) { return rename2(od, o, nd, n, RENAME_EXCHANGE); }
int cposix_rename_noreplace(int od, const char *o, int nd, const char *n) { return rename2(od, o, nd, n, RENAME_NOREPLACE); }
int cposix_malloc_trim(void) { return malloc_trim(0); }
int cposix_single_malloc_arena(void) { return mallopt(M_ARENA_MAX, 1); }

/// Local file systems whose leases mean what the kernel's generic code says: refused exactly
/// while the file is open for writing. Others may refuse every lease (CIFS without an oplock
/// says EAGAIN) or see only this host's writers, so their answers are not trusted.
static int has_trustworthy_leases(int descriptor) {
    struct statfs status;
    if (fstatfs(descriptor, &status) != 0) return 0;
    switch ((unsigned long)status.f_type & 0xFFFFFFFFul) {
    case 0xEF53:       // ext2/3/4
    case 0x58465342:   // xfs
    case 0x9123683E:   // btrfs
    case 0x01021994:   // tmpfs
    case 0x794C7630:   // overlayfs
    case 0x2FC12FC1:   // zfs
    case 0xF2F52010:   // f2fs
        return 1;
    default:
        return 0;
    }
}

int cposix_open_for_writing(int directory, const char *name) {
    int descriptor = openat(directory, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (descriptor < 0) return -1;
    if (!has_trustworthy_leases(descriptor)) {
        close(descriptor);
        errno = EOPNOTSUPP;
        return -1;
    }
    int answer;
    if (fcntl(descriptor, F_SETLEASE, F_RDLCK) == 0) {
        (void)fcntl(descriptor, F_SETLEASE, F_UNLCK);
        answer = 0;
    } else {
        answer = (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
    }
    int saved = errno;
    close(descriptor);
    errno = saved;
    return answer;
}

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGABRT};
#define FATAL_COUNT (sizeof fatal_signals / sizeof fatal_signals[0])
static struct sigaction previous[FATAL_COUNT];
static volatile int note_descriptor = -1;
static char note[1024];
static volatile size_t note_length = 0;

void cposix_crash_note_set(const char *text) {
    size_t length = text ? strnlen(text, sizeof note - 1) : 0;
    note_length = 0;
    if (length) memcpy(note, text, length);
    note_length = length;
}

static void on_fatal_signal(int number) {
    int descriptor = note_descriptor;
    if (descriptor >= 0) {
        char head[32];
        int used = 0;
        const char prefix[] = "signal=";
        memcpy(head, prefix, sizeof prefix - 1);
        used = sizeof prefix - 1;
        char digits[12];
        int count = 0;
        int value = number;
        do { digits[count++] = (char)('0' + value % 10); value /= 10; } while (value > 0 && count < 11);
        while (count > 0) head[used++] = digits[--count];
        head[used++] = '\n';
        (void)!pwrite(descriptor, head, (size_t)used, 0);
        size_t length = note_length;
        if (length) (void)!pwrite(descriptor, note, length, used);
        fsync(descriptor);
    }
    for (size_t i = 0; i < FATAL_COUNT; i++) {
        if (fatal_signals[i] == number) sigaction(number, &previous[i], NULL);
    }
    raise(number);
}

int cposix_crash_note_install(int descriptor) {
    note_descriptor = descriptor;
    for (size_t i = 0; i < FATAL_COUNT; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_fatal_signal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_NODEFER;
        if (sigaction(fatal_signals[i], &action, &previous[i]) != 0) return -1;
    }
    return 0;
}

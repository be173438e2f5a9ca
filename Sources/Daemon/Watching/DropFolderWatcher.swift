import Core
import Foundation
import Glibc

/// What the drop folder watcher reports. Events are hints to look again, not facts: the
/// consumer snapshots the named case (`CaseSnapshot.take`) and decides from what it finds.
public enum DropFolderEvent: Sendable, Hashable {
    /// Something about `incoming/<name>` may have changed: it appeared, a file in it was closed
    /// after writing or renamed into it, something in it was deleted, or it disappeared.
    case caseChanged(String)
    /// Individual changes may have been lost (start-up, kernel queue overflow, too many pending
    /// names, a lost watch): list `incoming/` and look at every entry again.
    case fullRescan
}

/// Why the watcher could not start.
public struct DropFolderWatcherError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let detail: String
    public var description: String { "cannot watch the drop folder \(path): \(detail)" }
}

/// Watches `incoming/` and every case directory in it with the kernel's inotify API (Glibc,
/// not libinotifytools: that library blocks for at least a second per call and keeps global
/// state; see PLATFORM-NOTES §1d), or polls when the folder is on a network file system.
///
/// Contract:
/// - The first call of `nextEvents` returns `.fullRescan` (start-up rescan).
/// - A file closed after writing (`IN_CLOSE_WRITE`) or renamed into a case (`IN_MOVED_TO`), a
///   deletion or rename out of a case, and a case directory created, renamed into, deleted from
///   or renamed out of `incoming/` produce `.caseChanged(case)`. A bare `IN_CREATE` of a file
///   produces nothing (it is followed by a close or is still being written). Temporary and
///   hidden names (`CaseFiles.isIgnored`) produce nothing, in cases and at the top level; a
///   temporary directory renamed to a real name is reported as a new case.
/// - For a case directory that appears after start, the watch is added before the event is
///   queued, so a snapshot taken after receiving the event sees every file that no later event
///   will report (files written before the watch existed produce no inotify event).
/// - Kernel queue overflow (`IN_Q_OVERFLOW`), more than `pendingLimit` distinct pending names,
///   or a lost watch on `incoming/` itself re-synchronise the watches and report `.fullRescan`.
/// - When the per-user watch limit is reached, the watcher keeps working and additionally
///   reports `.fullRescan` every polling interval (so nothing is missed, only noticed later).
/// - Entries at the top level that are not directories (stray files, symlinks, FIFOs) are
///   reported too, so that the service can refuse them instead of leaving them unnoticed.
///   Symlinks are never followed and no watch is ever placed through one.
/// - Polling mode (network file systems, or forced) lists `incoming/` every interval and
///   reports `.caseChanged` for each entry whose snapshot (names, sizes, times) differs from
///   the previous scan, including entries that disappeared.
/// - Memory is bounded: a fixed 64 KiB read buffer, one map entry per watched directory, and
///   at most `pendingLimit` pending names (beyond that they collapse into `.fullRescan`).
///
/// Threading: `nextEvents` and `close` are called from one thread (the service loop);
/// `wake()` may be called from any thread at any time, also after `close`.
///
/// Intended use in the service loop (the pieces are independent; this is the wiring):
/// ```swift
/// let watcher = try DropFolderWatcher(incoming: layout.incoming, mode: .automatic)
/// var readiness = CaseReadiness(settings: .init(markerFileName: "READY", quiescencePeriod: .seconds(30)))
/// while !stopping {
///     let wait = readiness.nextRefresh(at: .now).map { $0 - .now } ?? .seconds(60)
///     let events = watcher.nextEvents(timeout: max(wait, .zero))   // wake() ends it early
///     for name in readiness.refresh(incoming: layout.incoming, events: events, at: .now) {
///         switch DropFolderSafety.inspect(caseDirectory: "\(layout.incoming)/\(name)", allowedRoot: layout.incoming) {
///         case .success: claim(name)              // rename into work/, inspect again there
///         case .failure(let refusal): refuse(name, refusal.reason)
///         }
///         readiness.forget(name)
///     }
/// }
/// watcher.close()
/// ```
public final class DropFolderWatcher: @unchecked Sendable {
    /// How changes are noticed.
    public enum Mode: Sendable, Equatable {
        /// inotify on local file systems, polling every `pollingInterval` on network ones
        /// (`DropFolderListing.networkFileSystems`) or when inotify cannot be initialised.
        case automatic
        /// inotify even on a network file system (sees only this host's writes there).
        case inotify
        /// A scan every `interval`, whatever the file system.
        case polling(interval: Duration)
    }

    /// The mechanism in use after start-up, with the reason for polling (for the log).
    public enum EffectiveMode: Sendable, Equatable {
        case inotify
        case polling(interval: Duration, reason: String)
    }

    /// The watched `incoming/` folder.
    public let incoming: String
    public let effectiveMode: EffectiveMode
    /// Distinct pending case names above which they are replaced by a single `.fullRescan`.
    public let pendingLimit: Int

    private let pollingInterval: Duration
    private var inotifyDescriptor: Int32 = -1
    private var rootWatch: Int32 = -1
    private var caseByWatch: [Int32: String] = [:]
    private var watchByCase: [String: Int32] = [:]
    /// Set when a watch could not be added (limit reached) or `incoming/` itself was lost.
    private var rescansPeriodically = false
    private var nextPeriodicScan: ContinuousClock.Instant
    private var polledSnapshots: [String: CaseSnapshot] = [:]

    private var pendingOrder: [String] = []
    private var pendingNames: Set<String> = []
    private var pendingFullRescan = true

    private let buffer: UnsafeMutableRawPointer
    private static let bufferSize = 64 * 1024
    private static let clock = ContinuousClock()

    private let wakeLock = NSLock()
    private var wakeDescriptor: Int32
    private var wakeWriteDescriptor: Int32
    private var isClosed = false

    private static let rootMask = UInt32(IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
    private static let caseMask = UInt32(IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE
        | IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

    /// Starts watching `incoming` (which must exist and be a directory). Adds the watch on
    /// `incoming/` first, then lists it and watches every case directory, so nothing that
    /// happens during start-up is lost. `pollingInterval` is used by `.automatic` when it
    /// polls. Throws `DropFolderWatcherError` when `incoming` is not a directory, when inotify
    /// is forced and unavailable, or when the wake pipe cannot be created.
    public init(incoming: String, mode: Mode = .automatic, pollingInterval: Duration = .seconds(5),
                pendingLimit: Int = 4096) throws {
        var trimmed = incoming
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.incoming = trimmed
        self.pendingLimit = max(1, pendingLimit)
        var status = stat()
        guard stat(trimmed, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
            throw DropFolderWatcherError(path: trimmed, detail: "not an existing directory; create it or check the configured root")
        }
        // A self-pipe (Swift's Glibc module does not import eventfd): wake() writes a byte to
        // the write end, nextEvents polls the read end. Both ends are non-blocking, so a full
        // pipe after many wakes loses nothing (one pending byte is enough).
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw DropFolderWatcherError(path: trimmed, detail: "cannot create the wake pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        wakeDescriptor = ends[0]
        wakeWriteDescriptor = ends[1]
        let wake = ends[0]
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.bufferSize, alignment: MemoryLayout<inotify_event>.alignment)
        nextPeriodicScan = Self.clock.now

        var chosen: EffectiveMode = .inotify
        switch mode {
        case .polling(let interval):
            chosen = .polling(interval: interval, reason: "polling was requested in the configuration")
        case .automatic:
            if let name = DropFolderListing.networkFileSystemName(path: trimmed) {
                chosen = .polling(interval: pollingInterval, reason: "\(trimmed) is on \(name), where inotify does not see other hosts' writes")
            }
        case .inotify:
            break
        }
        if chosen == .inotify {
            let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            let failure = String(cString: strerror(errno))
            if descriptor >= 0 {
                let watch = inotify_add_watch(descriptor, trimmed, Self.rootMask)
                if watch >= 0 {
                    inotifyDescriptor = descriptor
                    rootWatch = watch
                } else {
                    let reason = String(cString: strerror(errno))
                    Glibc.close(descriptor)
                    chosen = .polling(interval: pollingInterval, reason: "inotify_add_watch failed: \(reason)")
                }
            } else {
                chosen = .polling(interval: pollingInterval, reason: "inotify_init1 failed: \(failure) (raise fs.inotify.max_user_instances)")
            }
            if case .polling(_, let reason) = chosen, mode == .inotify {
                Glibc.close(wake)
                Glibc.close(wakeWriteDescriptor)
                buffer.deallocate()
                throw DropFolderWatcherError(path: trimmed, detail: "\(reason); use polling mode or fix the inotify limits")
            }
        }
        if case .polling(let interval, _) = chosen {
            self.pollingInterval = max(interval, .milliseconds(10))
        } else {
            self.pollingInterval = pollingInterval
        }
        effectiveMode = chosen
        if chosen == .inotify {
            resynchroniseWatches()
        } else {
            pollScan()
            pendingFullRescan = true
            nextPeriodicScan = Self.clock.now + self.pollingInterval
        }
    }

    deinit {
        close()
        buffer.deallocate()
    }

    /// The case directories currently watched (for tests and the status line).
    public var watchedCaseCount: Int { watchByCase.count }

    /// Waits up to `timeout` for changes and returns them (deduplicated, `.fullRescan` alone
    /// when one is due). Returns as soon as at least one event is available, at the timeout
    /// with `[]`, or early (possibly with `[]`) after `wake()`. A zero timeout only collects
    /// what is already there. Never blocks longer than `timeout`; returns `[]` after `close()`.
    public func nextEvents(timeout: Duration) -> [DropFolderEvent] {
        let deadline = Self.clock.now + max(timeout, .zero)
        while !isClosed {
            collect()
            if hasPending { return takePending() }
            let now = Self.clock.now
            guard now < deadline else { return [] }
            var waitUntil = deadline
            if effectiveMode != .inotify || rescansPeriodically { waitUntil = min(waitUntil, nextPeriodicScan) }
            var descriptors = [pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)]
            if inotifyDescriptor >= 0 {
                descriptors.append(pollfd(fd: inotifyDescriptor, events: Int16(POLLIN), revents: 0))
            }
            let result = poll(&descriptors, nfds_t(descriptors.count), Self.milliseconds(until: waitUntil, from: now))
            if result > 0 && descriptors[0].revents != 0 {
                var drained = [UInt8](repeating: 0, count: 64)
                while read(wakeDescriptor, &drained, drained.count) > 0 {}
                collect()
                return takePending()
            }
        }
        return []
    }

    /// Interrupts a `nextEvents` wait in progress (or makes the next one return at once), e.g.
    /// for shutdown or configuration reload. Safe from any thread, also after `close()`.
    public func wake() {
        wakeLock.lock()
        defer { wakeLock.unlock() }
        guard !isClosed else { return }
        var one: UInt8 = 1
        _ = write(wakeWriteDescriptor, &one, 1)
    }

    /// Releases the inotify instance and the wake descriptor. Idempotent. Must not run
    /// concurrently with `nextEvents` (call it from the loop's thread after the last wait).
    public func close() {
        wakeLock.lock()
        defer { wakeLock.unlock() }
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(wakeDescriptor)
        Glibc.close(wakeWriteDescriptor)
        if inotifyDescriptor >= 0 { Glibc.close(inotifyDescriptor) }
        inotifyDescriptor = -1
        caseByWatch.removeAll()
        watchByCase.removeAll()
    }

    // MARK: - Collecting changes

    private var hasPending: Bool { pendingFullRescan || !pendingOrder.isEmpty }

    private func takePending() -> [DropFolderEvent] {
        defer {
            pendingFullRescan = false
            pendingOrder.removeAll(keepingCapacity: true)
            pendingNames.removeAll(keepingCapacity: true)
        }
        return pendingFullRescan ? [.fullRescan] : pendingOrder.map { .caseChanged($0) }
    }

    private func markChanged(_ name: String) {
        guard !pendingFullRescan, !pendingNames.contains(name) else { return }
        guard pendingNames.count < pendingLimit else {
            pendingFullRescan = true
            pendingOrder.removeAll()
            pendingNames.removeAll()
            return
        }
        pendingNames.insert(name)
        pendingOrder.append(name)
    }

    /// Reads whatever the kernel has queued and runs a scan when one is due.
    private func collect() {
        if inotifyDescriptor >= 0 { drainInotify() }
        let now = Self.clock.now
        if effectiveMode != .inotify, now >= nextPeriodicScan {
            pollScan()
            nextPeriodicScan = now + pollingInterval
        } else if effectiveMode == .inotify, rescansPeriodically, now >= nextPeriodicScan {
            resynchroniseWatches()
            nextPeriodicScan = now + pollingInterval
        }
    }

    private func drainInotify() {
        // Bounded per call: at most 64 buffers (4 MiB of events); the rest stays queued in the
        // kernel, whose own queue limit turns a larger burst into IN_Q_OVERFLOW.
        for _ in 0..<64 {
            let count = read(inotifyDescriptor, buffer, Self.bufferSize)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            let header = MemoryLayout<inotify_event>.size
            var offset = 0
            while offset + header <= count {
                let event = (buffer + offset).load(as: inotify_event.self)
                var name = ""
                if event.len > 0 {
                    // The kernel pads names with NULs; `char name[]` is not imported by Swift.
                    let raw = (buffer + offset + header).assumingMemoryBound(to: CChar.self)
                    guard let decoded = String(validatingCString: raw) else {
                        // Not valid UTF-8: not representable as a case name. A full rescan
                        // renames the entry to a valid name (`DropFolderListing.entryNames`),
                        // which then arrives as an event of its own.
                        if event.wd == rootWatch { resynchroniseWatches() }
                        offset += header + Int(event.len)
                        continue
                    }
                    name = decoded
                }
                handle(watch: event.wd, mask: event.mask, name: name)
                offset += header + Int(event.len)
            }
        }
    }

    private func handle(watch: Int32, mask: UInt32, name: String) {
        func has(_ flag: Int32) -> Bool { mask & UInt32(bitPattern: flag) != 0 }
        if has(IN_Q_OVERFLOW) {
            resynchroniseWatches()
            return
        }
        if watch == rootWatch {
            if has(IN_DELETE_SELF) || has(IN_MOVE_SELF) || has(IN_IGNORED) || has(IN_UNMOUNT) {
                loseRootWatch()
                return
            }
            guard !name.isEmpty, !CaseFiles.isIgnored(name) else { return }
            if has(IN_ISDIR) {
                if has(IN_CREATE) || has(IN_MOVED_TO) {
                    addCaseWatch(name)  // watch first, then report: the consumer's snapshot is the scan
                } else if has(IN_DELETE) || has(IN_MOVED_FROM) {
                    removeCaseWatch(name)  // a case claimed into work/ must not be followed there
                }
            }
            markChanged(name)
            return
        }
        guard let caseName = caseByWatch[watch] else { return }  // a watch already dropped
        if has(IN_IGNORED) {
            if watchByCase[caseName] == watch { watchByCase.removeValue(forKey: caseName) }
            caseByWatch.removeValue(forKey: watch)
            markChanged(caseName)
            return
        }
        if has(IN_DELETE_SELF) {
            markChanged(caseName)
            return
        }
        guard !name.isEmpty, !CaseFiles.isIgnored(name) else { return }
        if has(IN_CLOSE_WRITE) || has(IN_MOVED_TO) || has(IN_DELETE) || has(IN_MOVED_FROM)
            || (has(IN_CREATE) && has(IN_ISDIR)) {
            markChanged(caseName)
        }
    }

    private func addCaseWatch(_ name: String) {
        let watch = inotify_add_watch(inotifyDescriptor, "\(incoming)/\(name)", Self.caseMask)
        guard watch >= 0 else {
            if errno == ENOSPC || errno == ENOMEM { startPeriodicRescans() }
            return  // ENOENT/ENOTDIR: gone again or not a real directory; the event still goes out
        }
        if let previous = watchByCase[name], previous != watch { caseByWatch.removeValue(forKey: previous) }
        if let previousName = caseByWatch[watch], previousName != name { watchByCase.removeValue(forKey: previousName) }
        caseByWatch[watch] = name
        watchByCase[name] = watch
    }

    private func removeCaseWatch(_ name: String) {
        guard let watch = watchByCase.removeValue(forKey: name) else { return }
        caseByWatch.removeValue(forKey: watch)
        _ = inotify_rm_watch(inotifyDescriptor, watch)
    }

    private func startPeriodicRescans() {
        if !rescansPeriodically { nextPeriodicScan = Self.clock.now + pollingInterval }
        rescansPeriodically = true
    }

    private func loseRootWatch() {
        if rootWatch >= 0 { _ = inotify_rm_watch(inotifyDescriptor, rootWatch) }
        rootWatch = -1
        for watch in caseByWatch.keys { _ = inotify_rm_watch(inotifyDescriptor, watch) }
        caseByWatch.removeAll()
        watchByCase.removeAll()
        startPeriodicRescans()
        pendingFullRescan = true
    }

    /// Makes the watches match the directories in `incoming/` and queues `.fullRescan`. The
    /// watch on `incoming/` is (re)added before listing, so entries created meanwhile are seen.
    private func resynchroniseWatches() {
        pendingFullRescan = true
        pendingOrder.removeAll()
        pendingNames.removeAll()
        if rootWatch < 0 {
            let watch = inotify_add_watch(inotifyDescriptor, incoming, Self.rootMask)
            guard watch >= 0 else {
                startPeriodicRescans()  // still gone: try again at the next periodic scan
                return
            }
            rootWatch = watch
        }
        // Periodic rescans stop once incoming/ is watched again and every case has its watch;
        // addCaseWatch turns them back on if the watch limit is reached.
        rescansPeriodically = false
        let names = DropFolderListing.entryNames(incoming: incoming) ?? []
        var directories = Set<String>()
        for name in names where DropFolderListing.isDirectory("\(incoming)/\(name)") {
            directories.insert(name)
            if watchByCase[name] == nil { addCaseWatch(name) }
        }
        for name in Array(watchByCase.keys) where !directories.contains(name) { removeCaseWatch(name) }
    }

    /// Polling mode: compares a fresh snapshot of every entry with the previous scan.
    private func pollScan() {
        guard let names = DropFolderListing.entryNames(incoming: incoming) else {
            if !polledSnapshots.isEmpty { pendingFullRescan = true }
            polledSnapshots.removeAll()
            return
        }
        var current: [String: CaseSnapshot] = [:]
        for name in names {
            guard let snapshot = CaseSnapshot.take(path: "\(incoming)/\(name)") else { continue }
            current[name] = snapshot
            if polledSnapshots[name] != snapshot { markChanged(name) }
        }
        for name in polledSnapshots.keys where current[name] == nil { markChanged(name) }
        polledSnapshots = current
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant, from now: ContinuousClock.Instant) -> Int32 {
        let remaining = deadline - now
        guard remaining > .zero else { return 0 }
        let (seconds, attoseconds) = remaining.components
        let total = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: min(total, 3_600_000))
    }
}

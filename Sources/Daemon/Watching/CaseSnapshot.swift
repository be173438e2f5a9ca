import CPosix
import Glibc

/// What one entry of `incoming/` looks like at one moment: for a case directory, the name, kind,
/// size and modification time of every entry in it; for anything else (a stray file, a symlink,
/// a FIFO), the entry itself. Two snapshots are equal exactly when nothing a writer could do
/// (create, grow, rewrite, rename, delete a file) happened in between, up to the file system's
/// timestamp resolution (nanoseconds on ext4/xfs/btrfs/tmpfs). A regular file some process still
/// holds open for writing is marked as such where the kernel can tell (`Entry.isOpenForWriting`):
/// a sender that stalls in the middle of a file changes nothing for any length of time, and only
/// this says it is not done.
///
/// Taking a snapshot never follows a symlink, never opens anything but the case directory
/// itself (opened `O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK`, so a FIFO or a symlink in its place
/// cannot block or redirect it) and, for the write probe, its regular files (read-only, never
/// read, same flags), and reads at most `entryLimit` entries, so a hostile directory
/// with a million files costs bounded time and memory.
public struct CaseSnapshot: Sendable, Equatable {
    /// The kind of a directory entry as `lstat` reports it.
    public enum Kind: String, Sendable, Equatable {
        case regularFile = "regular file"
        case directory
        case symbolicLink = "symbolic link"
        case fifo = "FIFO"
        case socket
        case characterDevice = "character device"
        case blockDevice = "block device"
        case unknown = "unknown file type"

        init(mode: mode_t) {
            switch mode & S_IFMT {
            case S_IFREG: self = .regularFile
            case S_IFDIR: self = .directory
            case S_IFLNK: self = .symbolicLink
            case S_IFIFO: self = .fifo
            case S_IFSOCK: self = .socket
            case S_IFCHR: self = .characterDevice
            case S_IFBLK: self = .blockDevice
            default: self = .unknown
            }
        }
    }

    /// One entry inside the case directory.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var kind: Kind
        public var size: Int64
        /// Modification time in nanoseconds since the epoch.
        public var modificationTime: Int64
        /// Status-change time in nanoseconds (catches a rewrite that restores size and mtime).
        public var changeTime: Int64
        /// True when a process holds this regular file open for writing (`cposix_open_for_writing`:
        /// a read lease the kernel refuses). False also when that cannot be told: another owner's
        /// file without CAP_LEASE, a file system without leases (NFS); quiescence alone decides then.
        public var isOpenForWriting: Bool

        public init(name: String, kind: Kind, size: Int64, modificationTime: Int64, changeTime: Int64 = 0,
                    isOpenForWriting: Bool = false) {
            self.name = name
            self.kind = kind
            self.size = size
            self.modificationTime = modificationTime
            self.changeTime = changeTime
            self.isOpenForWriting = isOpenForWriting
        }
    }

    /// The kind of the `incoming/` entry itself (`.directory` for a real case).
    public var kind: Kind
    /// The entries of the case directory sorted by name (empty when `kind` is not a directory).
    public var entries: [Entry]
    /// True when the directory held more than `entryLimit` entries and only that many were read.
    public var isTruncated: Bool
    /// The directory exists but cannot be opened (EACCES/EPERM: mode 000, another owner).
    public var isUnreadable = false

    public init(kind: Kind = .directory, entries: [Entry], isTruncated: Bool = false) {
        self.kind = kind
        self.entries = entries.sorted { $0.name < $1.name }
        self.isTruncated = isTruncated
    }

    /// The entry names, sorted.
    public var names: [String] { entries.map(\.name) }

    /// The names of the files some process holds open for writing, sorted.
    public var filesOpenForWriting: [String] { entries.filter(\.isOpenForWriting).map(\.name) }

    /// The sum of the sizes of the entries.
    public var totalSize: Int64 { entries.reduce(0) { $0 + $1.size } }

    /// Upper bound on entries read per case; far above any real case (4–6 files) and the
    /// safety check's file-count cap, low enough to bound the cost of a hostile directory.
    public static let entryLimit = 10_000

    /// Files probed for writers per snapshot: a real case has 4–6, the safety check refuses
    /// cases with many more, and a hostile directory must not cost thousands of opens a second.
    public static let probedFileLimit = 64

    /// Takes a snapshot of `path` (normally `incoming/<case>`). Returns nil when nothing is at
    /// `path` any more (the case was claimed, renamed or deleted). Entries whose names are not
    /// valid UTF-8 appear with U+FFFD replacements (they still change the snapshot; the safety
    /// check refuses such cases). Entries that vanish while being read are skipped.
    public static func take(path: String) -> CaseSnapshot? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        let ownKind = Kind(mode: status.st_mode)
        guard ownKind == .directory else {
            let entry = Entry(name: "", kind: ownKind, size: Int64(status.st_size),
                              modificationTime: nanoseconds(status.st_mtim), changeTime: nanoseconds(status.st_ctim))
            return CaseSnapshot(kind: ownKind, entries: [entry])
        }
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            // Replaced by something else between lstat and open: report what is there now.
            guard lstat(path, &status) == 0 else { return nil }
            var snapshot = CaseSnapshot(kind: Kind(mode: status.st_mode), entries: [])
            snapshot.isUnreadable = code == EACCES || code == EPERM
            return snapshot
        }
        guard let directory = fdopendir(descriptor) else {
            close(descriptor)
            return CaseSnapshot(kind: .directory, entries: [])
        }
        defer { closedir(directory) }
        var entries: [Entry] = []
        var truncated = false
        while let record = readdir(directory) {
            let entry: Entry? = withUnsafePointer(to: record.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { rawName -> Entry? in
                    let name = String(cString: rawName)
                    if name == "." || name == ".." { return nil }
                    var entryStatus = stat()
                    // The raw bytes, not the decoded name: a non-UTF-8 name must still be found.
                    guard fstatat(descriptor, rawName, &entryStatus, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
                    let kind = Kind(mode: entryStatus.st_mode)
                    return Entry(name: name, kind: kind, size: Int64(entryStatus.st_size),
                                 modificationTime: nanoseconds(entryStatus.st_mtim),
                                 changeTime: nanoseconds(entryStatus.st_ctim),
                                 isOpenForWriting: kind == .regularFile && entries.count < probedFileLimit
                                     && cposix_open_for_writing(descriptor, rawName) == 1)
                }
            }
            guard let entry else { continue }
            if entries.count >= entryLimit {
                truncated = true
                break
            }
            entries.append(entry)
        }
        return CaseSnapshot(kind: .directory, entries: entries, isTruncated: truncated)
    }

    static func nanoseconds(_ time: timespec) -> Int64 {
        Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}

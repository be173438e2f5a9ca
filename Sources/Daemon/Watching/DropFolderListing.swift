import Core
import Glibc

/// Listing `incoming/` and telling whether it lives on a network file system. Shared by the
/// watcher (start-up and overflow rescans, polling) and by `CaseReadiness.refresh` (which lists
/// the drop folder when the watcher asks for a full rescan).
public enum DropFolderListing {
    /// The names of the entries directly in `incoming`, sorted, without `.`/`..` and without
    /// temporary or hidden names (`CaseFiles.isIgnored`: leading dot, `.part`, `.tmp`, `~`).
    /// Every kind of entry is listed (directories, stray files, symlinks, FIFOs): each is a case
    /// candidate that either becomes a case or is refused by `DropFolderSafety` with a reason.
    /// A name that is not valid UTF-8 cannot be a `String` path: the entry is first renamed in
    /// place to `escapedName` (`renameUndecodable`) and listed under that name, so that it is
    /// taken or refused like any other instead of waiting unseen for ever.
    /// Returns nil when `incoming` cannot be opened (missing, not a directory, no permission).
    public static func entryNames(incoming: String) -> [String]? {
        guard let directory = opendir(incoming) else { return nil }
        defer { closedir(directory) }
        var names: Set<String> = []
        while let record = readdir(directory) {
            let bytes = withUnsafeBytes(of: record.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            var name = String(validating: bytes, as: UTF8.self)
            // A temporary or hidden entry keeps its name: a sender may still be writing it.
            if name == nil {
                let escaped = escapedName(bytes)
                if !CaseFiles.isIgnored(escaped) { name = renameUndecodable(incoming: incoming, rawName: bytes, to: escaped) }
            }
            guard let name, name != ".", name != "..", !CaseFiles.isIgnored(name) else { continue }
            names.insert(name)
        }
        return names.sorted()
    }

    /// `bytes` with every byte outside printable ASCII, and `%`, written as `%XX` (upper-case
    /// hex): a valid UTF-8, control-free name for an entry whose own name is not valid UTF-8.
    public static func escapedName(_ bytes: [UInt8]) -> String {
        var escaped = ""
        for byte in bytes {
            if byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "%") {
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                escaped += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return escaped
    }

    /// Renames `incoming/<rawName>` to `incoming/<escaped>` (`escapedName(rawName)`; or `…-2`,
    /// `-3`, … if taken), never replacing an entry; the new name, or nil when the rename failed
    /// (the entry then stays unlisted until a later listing succeeds).
    static func renameUndecodable(incoming: String, rawName: [UInt8], to escaped: String) -> String? {
        let source = Array(incoming.utf8) + [UInt8(ascii: "/")] + rawName + [0]
        for suffix in 1...100 {
            let name = suffix == 1 ? escaped : "\(escaped)-\(suffix)"
            let renamed = source.withUnsafeBufferPointer { raw in
                raw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) {
                    CaseFolders.renameWithoutReplacing(pointer: $0, "\(incoming)/\(name)")
                }
            }
            if renamed { return name }
            guard errno == EEXIST else { return nil }
        }
        return nil
    }

    /// Whether `incoming/name` is a real directory (not a symlink to one).
    public static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// Network file systems on which inotify does not see writes made by other hosts, by
    /// `statfs` `f_type` (values from linux/magic.h and the file systems' sources).
    public static let networkFileSystems: [Int: String] = [
        0x6969: "NFS",
        0x517B: "SMB",
        0xFF53_4D42: "CIFS",
        0xFE53_4D42: "SMB2",
        0x00C3_6400: "Ceph",
        0x5346_414F: "AFS",
        0x0102_1997: "9P",
    ]

    /// The name of the network file system `path` lives on ("NFS", "CIFS", …), or nil for a
    /// local one or when `statfs` fails (the caller then tries inotify, which fails loudly if
    /// the path is unusable).
    public static func networkFileSystemName(path: String) -> String? {
        guard let type = fileSystemType(path: path) else { return nil }
        return networkFileSystems[type]
    }

    /// `statfs(path).f_type`, or nil when the call fails. Swift's Glibc module does not import
    /// <sys/vfs.h>, so the libc function is looked up with `dlsym` and called through a C
    /// function pointer; `f_type` (`__fsword_t`, a C long) is the first field of `struct
    /// statfs` on every Linux architecture, and the buffer is larger than the struct (120 bytes).
    public static func fileSystemType(path: String) -> Int? {
        typealias StatfsFunction = @convention(c) (UnsafePointer<CChar>, UnsafeMutableRawPointer) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "statfs") else { return nil }
        let function = unsafeBitCast(symbol, to: StatfsFunction.self)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        guard function(path, buffer) == 0 else { return nil }
        // The CIFS/SMB2 magics have bit 31 set; compare the low 32 bits as unsigned.
        return Int(UInt32(truncatingIfNeeded: buffer.load(as: Int.self)))
    }
}

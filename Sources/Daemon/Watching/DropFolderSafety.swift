import Glibc

/// Why a case from the drop folder is refused. `reason` is one printable line meant for
/// `failed/<case>/error.txt` and the journal: it names the case, the offending entry and what
/// the sender can do. Names are shown with control characters escaped (`\u{1B}`).
public struct CaseRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The case name is empty, hidden, `.`/`..`, contains `/` or control characters.
        case unsafeCaseName
        /// The case directory is not directly inside the allowed root.
        case outsideRoot
        /// The `incoming/` entry is not a real directory (a file, a symlink, a FIFO…).
        case notADirectory
        /// An entry name contains control characters or is not valid UTF-8.
        case unsafeEntryName
        /// A FIFO, socket, device or unknown file type.
        case specialFile
        case subdirectory
        /// A symlink whose target resolves outside the allowed root.
        case symlinkOutsideRoot
        /// A symlink whose target does not exist or loops.
        case brokenSymlink
        /// A symlink inside the root whose target is not a regular file.
        case symlinkToNonFile
        /// A regular file with more than one name (a hard link): it may be a file from anywhere
        /// on the same file system (`/etc/shadow`), which the daemon would then read and copy.
        case hardLink
        case tooManyFiles
        case tooLarge
        /// The case could not be read, or changed while it was inspected (try again later).
        case unreadable
    }

    public let caseName: String
    public let code: Code
    public let reason: String
    public var description: String { reason }

    init(_ caseName: String, _ code: Code, _ detail: String) {
        self.caseName = caseName
        self.code = code
        self.reason = "case '\(DropFolderSafety.printable(caseName))' refused: \(detail)"
    }
}

/// The checks that keep a hostile drop folder from reaching outside the daemon's root or
/// wedging it. Run them before a case is claimed (`allowedRoot` = `incoming/`) and again after
/// it was renamed into `work/` (`allowedRoot` = `work/`), since the sender may change the case
/// between the two.
///
/// Nothing here opens an entry of the case: entries are examined with `fstatat(…,
/// AT_SYMLINK_NOFOLLOW)` relative to the case directory, which itself is opened with
/// `O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK`; symlink targets are resolved with `readlinkat` and
/// `realpath` (path lookups only), so a FIFO cannot block and a symlink is never followed into
/// a read. Files with more than one hard link are refused. At most `maximumFileCount + 1`
/// entries are read.
public enum DropFolderSafety {
    public struct Limits: Sendable, Equatable {
        /// Upper bound on the sum of the file sizes of one case (symlink targets included).
        public var maximumTotalBytes: Int64
        /// Upper bound on the number of entries in one case.
        public var maximumFileCount: Int

        public init(maximumTotalBytes: Int64 = 4 << 30, maximumFileCount: Int = 64) {
            self.maximumTotalBytes = maximumTotalBytes
            self.maximumFileCount = maximumFileCount
        }
    }

    /// Inspects `caseDirectory`, which must be a direct child of `allowedRoot`. On success,
    /// returns the names of the case's files, sorted: regular files, and symlinks whose target
    /// resolves to a regular file inside `allowedRoot`. Hidden and temporary files are included
    /// (they are regular files; recognition ignores them). Any other entry refuses the case.
    public static func inspect(caseDirectory: String, allowedRoot: String, limits: Limits = Limits()) -> Result<[String], CaseRefusal> {
        var path = caseDirectory
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        let caseName = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        guard RootLayout.isSafeCaseName(caseName), !containsControlCharacter(caseName) else {
            return .failure(CaseRefusal(caseName, .unsafeCaseName,
                                        "the folder name is empty, hidden, '..', longer than \(RootLayout.maximumCaseNameBytes) bytes, or contains '/' or control characters; rename it to plain letters, digits, '-' and '_'"))
        }
        let parent = String(path.dropLast(caseName.count))
        guard let realRoot = canonical(allowedRoot) else {
            return .failure(CaseRefusal(caseName, .unreadable, "the folder \(allowedRoot) cannot be resolved; check the configured root"))
        }
        guard let realParent = canonical(parent.isEmpty ? "." : parent), realParent == realRoot else {
            return .failure(CaseRefusal(caseName, .outsideRoot, "\(printable(path)) is not directly inside \(realRoot)"))
        }

        var status = stat()
        guard lstat(path, &status) == 0 else {
            return .failure(CaseRefusal(caseName, .unreadable, "it disappeared while being checked"))
        }
        let kind = CaseSnapshot.Kind(mode: status.st_mode)
        guard kind == .directory else {
            return .failure(CaseRefusal(caseName, .notADirectory,
                                        "it is a \(kind.rawValue), not a folder; drop each case as a folder of NIfTI files"))
        }
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            return .failure(CaseRefusal(caseName, .unreadable, "the folder cannot be opened: \(String(cString: strerror(errno)))"))
        }
        guard let directory = fdopendir(descriptor) else {
            close(descriptor)
            return .failure(CaseRefusal(caseName, .unreadable, "the folder cannot be listed: \(String(cString: strerror(errno)))"))
        }
        defer { closedir(directory) }

        var files: [String] = []
        var entryCount = 0
        var totalBytes: Int64 = 0
        while let record = readdir(directory) {
            let verdict: Result<(name: String, bytes: Int64)?, CaseRefusal> = withUnsafePointer(to: record.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { rawName in
                    examineEntry(rawName, directory: descriptor, casePath: path, caseName: caseName, realRoot: realRoot)
                }
            }
            switch verdict {
            case .failure(let refusal):
                return .failure(refusal)
            case .success(nil):
                continue
            case .success(let accepted?):
                entryCount += 1
                guard entryCount <= limits.maximumFileCount else {
                    return .failure(CaseRefusal(caseName, .tooManyFiles,
                                                "more than \(limits.maximumFileCount) files; a case holds four modalities, an optional segmentation and a marker"))
                }
                totalBytes += accepted.bytes
                files.append(accepted.name)
            }
        }
        guard totalBytes <= limits.maximumTotalBytes else {
            return .failure(CaseRefusal(caseName, .tooLarge,
                                        "its files hold \(totalBytes) bytes, more than the limit of \(limits.maximumTotalBytes) bytes (raise the case size limit if this is a real case)"))
        }
        return .success(files.sorted())
    }

    /// One entry: nil for `.`/`..`, the name and byte count of an accepted file, or a refusal.
    private static func examineEntry(_ rawName: UnsafePointer<CChar>, directory: Int32, casePath: String, caseName: String,
                                     realRoot: String) -> Result<(name: String, bytes: Int64)?, CaseRefusal> {
        guard let name = String(validatingCString: rawName) else {
            return .failure(CaseRefusal(caseName, .unsafeEntryName, "a file name is not valid UTF-8 ('\(printable(String(cString: rawName)))'); use plain ASCII names"))
        }
        if name == "." || name == ".." { return .success(nil) }
        guard !containsControlCharacter(name) else {
            return .failure(CaseRefusal(caseName, .unsafeEntryName, "the file name '\(printable(name))' contains control characters; rename it"))
        }
        var status = stat()
        guard fstatat(directory, rawName, &status, AT_SYMLINK_NOFOLLOW) == 0 else {
            return .failure(CaseRefusal(caseName, .unreadable, "'\(printable(name))' changed while the case was checked; the sender is still writing"))
        }
        switch CaseSnapshot.Kind(mode: status.st_mode) {
        case .regularFile:
            guard status.st_nlink <= 1 else { return .failure(hardLinkRefusal(caseName, name: name, links: status.st_nlink)) }
            return .success((name, Int64(status.st_size)))
        case .directory:
            return .failure(CaseRefusal(caseName, .subdirectory, "'\(printable(name))' is a sub-folder; put the NIfTI files directly in the case folder"))
        case .symbolicLink:
            return examineSymlink(rawName, name: name, directory: directory, casePath: casePath, caseName: caseName, realRoot: realRoot)
        case let special:
            return .failure(CaseRefusal(caseName, .specialFile, "'\(printable(name))' is a \(special.rawValue), not a regular file; drop real files only"))
        }
    }

    private static func examineSymlink(_ rawName: UnsafePointer<CChar>, name: String, directory: Int32, casePath: String,
                                       caseName: String, realRoot: String) -> Result<(name: String, bytes: Int64)?, CaseRefusal> {
        var targetBytes = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlinkat(directory, rawName, &targetBytes, Int(PATH_MAX))
        guard length >= 0 else {
            return .failure(CaseRefusal(caseName, .unreadable, "the link '\(printable(name))' cannot be read: \(String(cString: strerror(errno)))"))
        }
        let target = String(decoding: targetBytes[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let joined = target.hasPrefix("/") ? target : "\(casePath)/\(target)"
        guard let resolved = canonical(joined) else {
            return .failure(CaseRefusal(caseName, .brokenSymlink, "the link '\(printable(name))' points to '\(printable(target))', which does not exist; drop real files instead of links"))
        }
        guard resolved.hasPrefix(realRoot + "/") else {
            return .failure(CaseRefusal(caseName, .symlinkOutsideRoot,
                                        "the link '\(printable(name))' points to '\(printable(resolved))', outside \(realRoot); links are never followed out of the drop folder, drop real files instead"))
        }
        var status = stat()
        guard stat(resolved, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            return .failure(CaseRefusal(caseName, .symlinkToNonFile, "the link '\(printable(name))' does not point to a regular file; drop real files instead of links"))
        }
        guard status.st_nlink <= 1 else { return .failure(hardLinkRefusal(caseName, name: name, links: status.st_nlink)) }
        return .success((name, Int64(status.st_size)))
    }

    /// Hard links are refused rather than copied: a link count above 1 cannot tell a harmless
    /// second name from a link to a file outside the root (the other names are not findable),
    /// a copy would still read that file with the daemon's rights, and senders that copy files
    /// (cp, rsync, PACS exports) never produce hard links.
    private static func hardLinkRefusal(_ caseName: String, name: String, links: some BinaryInteger) -> CaseRefusal {
        CaseRefusal(caseName, .hardLink,
                    "'\(printable(name))' is a hard link (\(links) names for one file); hard links can reach files outside the drop folder, so they are refused: copy the file into the case instead")
    }

    /// The absolute path with every symlink resolved (path lookups only, nothing opened), or
    /// nil when a component is missing or the links loop.
    static func canonical(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// C0 controls, DEL and C1 controls (U+0080–U+009F).
    static func containsControlCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// `text` with control characters escaped so that it stays on one line.
    static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

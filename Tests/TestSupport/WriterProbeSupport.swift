import Foundation

/// When the daemon's write probe (a read lease the kernel refuses while a file is open for
/// writing) can work for files in the tests' temporary folders: the kernel grants leases
/// (`fs.leases-enable`) and the folder is on a file system whose leases the probe trusts. Decided
/// from the system alone, never by trying the probe, so a broken probe fails its tests.
public enum WriterProbeSupport {
    /// `statfs` magics of the file systems the probe trusts (as in CPosix's cposix.c).
    static let trustedFileSystems: Set<UInt32> = [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994, 0x794C_7630, 0x2FC1_2FC1, 0xF2F5_2010]

    /// Nil when the probe can work here, else why not.
    public static var unavailableReason: String? {
        guard (try? String(contentsOfFile: "/proc/sys/fs/leases-enable", encoding: .utf8))?.hasPrefix("1") == true else {
            return "file leases are disabled on this kernel (fs.leases-enable = 0)"
        }
        let folder = NSTemporaryDirectory()
        guard let type = fileSystemType(folder), trustedFileSystems.contains(type) else {
            return "\(folder) is not on ext4, xfs, btrfs, tmpfs, overlayfs, zfs or f2fs, whose leases the probe trusts"
        }
        return nil
    }

    /// `statfs(path).f_type` (low 32 bits), through `stat -f`, which needs no C shim here.
    static func fileSystemType(_ path: String) -> UInt32? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/stat")
        process.arguments = ["-f", "-c", "%t", path]
        let pipe = Pipe()
        process.standardOutput = pipe
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
    }
}

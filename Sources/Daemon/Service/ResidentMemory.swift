import Foundation

/// This process's resident set size, from `/proc/self/statm` (pages × page size), in MB.
enum ResidentMemory {
    static func currentMegabytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE))) >> 20
    }
}

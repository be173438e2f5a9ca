import Foundation

/// Paths to the committed test fixtures (`Tests/Fixtures`), found relative to this source
/// file so that tests work from any working directory.
public enum Fixtures {
    /// `Tests/Fixtures`.
    public static let directory: String = {
        let here = URL(fileURLWithPath: #filePath)  // Tests/TestSupport/Fixtures.swift
        return here.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").path
    }()

    /// A file under `Tests/Fixtures`, e.g. `path("nifti/dtype_int16.nii.gz")`.
    public static func path(_ relative: String) -> String { "\(directory)/\(relative)" }

    /// Decodes a JSON fixture.
    public static func json<T: Decodable>(_ relative: String, as type: T.Type) throws -> T {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(relative)))
        return try JSONDecoder().decode(T.self, from: data)
    }
}

/// The real data set (`../shared/data`), named by the `BRAINSEG_DATA` environment variable.
/// Tests that need it are enabled only when it is set; `.ci/run` sets it, so there they run.
public enum RealData {
    /// The data root, or nil when `BRAINSEG_DATA` is unset or empty.
    public static var root: String? {
        guard let value = ProcessInfo.processInfo.environment["BRAINSEG_DATA"], !value.isEmpty else { return nil }
        return value
    }

    public static var isAvailable: Bool { root != nil }

    /// Why real-data tests are skipped.
    public static let skipReason = "BRAINSEG_DATA is not set: real-data tests skipped (set it to ../shared/data)"

    /// Every regular file below `directory` whose name ends in `.nii` or `.nii.gz`, sorted.
    public static func niftiFiles(below directory: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            if relative.hasSuffix(".nii") || relative.hasSuffix(".nii.gz") { found.append("\(directory)/\(relative)") }
        }
        return found.sorted()
    }
}

import Foundation

/// The files of one case directory: the four modalities and an optional expert segmentation,
/// recognised by the naming conventions of SPEC.md §1 (BraTS 2017–2021 `*_t1ce.nii.gz`,
/// BraTS 2023+ `*-t1c.nii.gz`, plain `t1c.nii.gz`; `.nii` or `.nii.gz`).
public struct CaseFiles: Sendable, Equatable {
    /// The case identifier: the directory's name.
    public var identifier: String
    public var directory: String
    /// Paths in channel order T1, T1ce, T2, FLAIR.
    public var modalities: [String]
    /// `*_seg` / `*-seg` / `seg`, when present: the case is labelled.
    public var segmentation: String?

    /// Why a directory is not a usable case.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let directory: String
        public let detail: String
        public var description: String { "\(directory): \(detail)" }
    }

    /// Recognises the files in `directory`. Hidden and temporary names (leading dot, `.part`,
    /// `.tmp`) are ignored. Throws a `Problem` naming every missing modality, or any modality
    /// matched by more than one file.
    public static func find(in directory: String) throws -> CaseFiles {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw Problem(directory: directory, detail: "no such folder: a case is a folder holding its four NIfTI files")
        }
        guard isDirectory.boolValue else {
            throw Problem(directory: directory, detail: "this is a file, not a folder: a case is a folder holding its four NIfTI files")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw Problem(directory: directory, detail: "cannot list the folder: \(error.localizedDescription)")
        }
        return try recognise(names: names, directory: directory)
    }

    /// The recognition rules on a list of file names (no file-system access).
    public static func recognise(names: [String], directory: String) throws -> CaseFiles {
        var matches: [Modality: [String]] = [:]
        var segmentations: [String] = []
        for name in names.sorted() where !isIgnored(name) {
            guard let stem = niftiStem(name) else { continue }
            let lower = stem.lowercased()
            if lower == "seg" || lower.hasSuffix("_seg") || lower.hasSuffix("-seg") {
                segmentations.append(name)
                continue
            }
            for modality in Modality.allCases {
                if modality.plainNames.contains(lower) || modality.suffixes.contains(where: { lower.hasSuffix($0) }) {
                    matches[modality, default: []].append(name)
                }
            }
        }
        var problems: [String] = []
        let missing = Modality.allCases.filter { (matches[$0] ?? []).isEmpty }
        if !missing.isEmpty {
            problems.append("missing \(missing.map(\.description).joined(separator: ", ")) (expected e.g. CASE_t1.nii.gz, CASE_t1ce.nii.gz, CASE_t2.nii.gz, CASE_flair.nii.gz)")
        }
        for modality in Modality.allCases {
            if let files = matches[modality], files.count > 1 {
                problems.append("\(files.count) files look like \(modality): \(files.joined(separator: ", "))")
            }
        }
        if segmentations.count > 1 { problems.append("several segmentations: \(segmentations.joined(separator: ", "))") }
        guard problems.isEmpty else { throw Problem(directory: directory, detail: problems.joined(separator: "; ")) }
        let identifier = URL(fileURLWithPath: directory).lastPathComponent
        return CaseFiles(identifier: identifier, directory: directory,
                         modalities: Modality.allCases.map { "\(directory)/\(matches[$0]![0])" },
                         segmentation: segmentations.first.map { "\(directory)/\($0)" })
    }

    /// The modalities, in channel order, that no file among `names` provides under the rules of
    /// `recognise` (temporary names ignored). Empty when all four are present, even if one is
    /// ambiguous: the drop-folder watcher uses this to tell "still arriving" from "complete but
    /// invalid" (which `recognise` then reports).
    public static func missingModalities(names: [String]) -> [Modality] {
        let stems = names.filter { !isIgnored($0) }.compactMap { niftiStem($0)?.lowercased() }
        return Modality.allCases.filter { modality in
            !stems.contains { stem in
                modality.plainNames.contains(stem) || modality.suffixes.contains(where: { stem.hasSuffix($0) })
            }
        }
    }

    /// Whether a drop-folder name is a temporary or hidden file that must not be read yet.
    public static func isIgnored(_ name: String) -> Bool {
        name.hasPrefix(".") || name.hasSuffix(".part") || name.hasSuffix(".tmp") || name.hasSuffix("~")
    }

    /// The name without `.nii` / `.nii.gz`, or nil for other files.
    static func niftiStem(_ name: String) -> String? {
        if name.hasSuffix(".nii.gz") { return String(name.dropLast(7)) }
        if name.hasSuffix(".nii") { return String(name.dropLast(4)) }
        return nil
    }
}

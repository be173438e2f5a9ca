import Core
import Foundation

/// The teachers' region probabilities stored with a case: the targets of soft-label distillation
/// (MODELS.md "Distillation"). A distillation-pool entry keeps them as
/// `soft/prob_{WT,TC,ET}.nii.gz` (PoolEntry), 8-bit values meaning value / 255; a float file
/// holds probabilities as they are (so `brainseg segment --probabilities` output can be copied in).
///
/// Contract: `files(in:)` is nil unless all three regions are present, so a case has either
/// complete soft targets or none; `load` returns three volumes on the case's grid with values
/// clamped to [0, 1], or throws when a file is unreadable or on another grid.
public enum SoftTargets {
    /// The sub-folder of a case folder holding the files.
    public static let folder = "soft"

    /// The three files' paths in region order (WT, TC, ET), when all exist.
    public static func files(in caseDirectory: String) -> [String]? {
        let paths = BratsRegion.allCases.map { "\(caseDirectory)/\(folder)/prob_\($0.rawValue).nii.gz" }
        return paths.allSatisfy { FileManager.default.fileExists(atPath: $0) } ? paths : nil
    }

    /// The probabilities of `paths` (one per region) on a grid of `dims` voxels (x fastest).
    public static func load(_ paths: [String], dims: [Int]) throws -> [[Float]] {
        try paths.map { path in
            let image = try NiftiReader.read(from: path)
            guard image.geometry.dims == dims else {
                throw TrainingError("\(path): shape \(image.geometry.dims.map(String.init).joined(separator: "×")) differs from the case's \(dims.map(String.init).joined(separator: "×"))")
            }
            let scale: Float = image.header.datatype == .uint8 && !image.header.appliesScaling ? 1 / 255 : 1
            return image.voxels.map { min(max($0 * scale, 0), 1) }
        }
    }
}

import Core
import Foundation

/// Small synthetic BraTS-like cases written as real NIfTI folders: a noisy ellipsoidal brain
/// in four modalities with a bright spherical tumour (edema 2, core 1, enhancing 4).
public enum SyntheticCases {
    /// Writes `count` labelled cases `case0…` of `size`³ voxels (1 mm) into `directory`;
    /// returns their folders.
    @discardableResult
    public static func write(into directory: String, count: Int, size: Int = 24, seed: UInt64 = 1, labelled: Bool = true) throws -> [String] {
        var random = SeededRandom(seed: seed)
        var folders: [String] = []
        let geometry = VolumeGeometry(dims: [size, size, size])
        for index in 0..<count {
            let name = "case\(index)"
            let folder = "\(directory)/\(name)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let centre = (0..<3).map { _ in Double(size) * (0.4 + 0.2 * Double(random.nextUniform())) }
            let radius = Double(size) * (0.12 + 0.08 * Double(random.nextUniform()))
            var labels = [UInt8](repeating: 0, count: size * size * size)
            var brain = [Bool](repeating: false, count: labels.count)
            for z in 0..<size { for y in 0..<size { for x in 0..<size {
                let i = x + size * (y + size * z)
                let q = [x, y, z].enumerated().map { pow((Double($0.element) - Double(size - 1) / 2) / (Double(size) * 0.45), 2) }.reduce(0, +)
                brain[i] = q <= 1
                let d = sqrt([x, y, z].enumerated().map { pow(Double($0.element) - centre[$0.offset], 2) }.reduce(0, +))
                if brain[i] && d <= radius { labels[i] = d <= radius * 0.35 ? 4 : (d <= radius * 0.6 ? 1 : 2) }
            } } }
            let suffixes = ["t1", "t1ce", "t2", "flair"]
            for (modality, suffix) in suffixes.enumerated() {
                var volume = Volume(geometry: geometry)
                for i in labels.indices where brain[i] {
                    let tumour: Float = labels[i] == 0 ? 0 : (modality == 1 && labels[i] == 4 ? 3 : (modality >= 2 ? 2 : 1))
                    volume.voxels[i] = 100 + 20 * random.nextNormal() + 60 * tumour
                }
                try NiftiWriter.write(volume, to: "\(folder)/\(name)_\(suffix).nii.gz")
            }
            if labelled { try NiftiWriter.writeLabels(labels, geometry: geometry, to: "\(folder)/\(name)_seg.nii.gz") }
            folders.append(folder)
        }
        return folders
    }
}

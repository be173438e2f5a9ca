import Core
import Foundation

/// The distillation pool, `<root>/pool/<case>/` (SPEC.md §2, §5): one folder per admitted case,
/// each a labelled case folder plus `entry.json` (see `PoolEntry`).
///
/// Writes are atomic: an entry is assembled in a hidden staging folder, fsynced and renamed into
/// place, so a reader (or `brainseg retrain` freezing its manifest) sees whole entries only;
/// leftovers of a crash are hidden folders that `removeStaleStaging` deletes.
///
/// Eviction, when the pool holds `maximumEntries`: a pseudo-labelled candidate replaces the
/// pseudo-labelled entry with the lowest confidence score if its own score is higher (else it
/// is rejected); an expert-labelled candidate replaces the lowest-scoring pseudo-labelled entry,
/// or, when there is none, the oldest expert-labelled one. Expert labels are thus kept longest.
public struct DistillationPool: Sendable {
    public let directory: String
    public let maximumEntries: Int

    public init(directory: String, maximumEntries: Int) {
        self.directory = directory
        self.maximumEntries = maximumEntries
    }

    public struct PoolError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The admission decision for a candidate before anything is written.
    public enum Decision: Sendable, Equatable {
        /// Admit; the named entries are evicted first (possibly none).
        case admit(evicting: [String])
        /// Same content already in the pool under this name.
        case duplicate(of: String)
        /// The pool is full of entries that rank at least as high.
        case full(lowestScore: Double)
    }

    /// Entries, sorted by name; unreadable entry.json files are skipped.
    public func entries() -> [PoolEntry] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return names.compactMap { try? entry(named: $0) }
    }

    public func entry(named name: String) throws -> PoolEntry {
        guard RootLayout.isSafeCaseName(name) else { throw PoolError("'\(name)' is not a pool entry name") }
        let path = "\(directory)/\(name)/\(PoolEntry.fileName)"
        guard let data = FileManager.default.contents(atPath: path) else { throw PoolError("no pool entry '\(name)' in \(directory)") }
        do {
            return try ReadableJSON.decoder.decode(PoolEntry.self, from: data)
        } catch {
            throw PoolError("\(path): unreadable entry (\(error))")
        }
    }

    /// Where a candidate would go.
    public func decide(caseIdentifier: String, contentHash: String, kind: PoolEntry.Kind, score: Double) -> Decision {
        let current = entries()
        if let same = current.first(where: { $0.contentHash == contentHash }) { return .duplicate(of: same.caseIdentifier) }
        // A re-dropped case with new content replaces its older entry.
        var evicting = current.contains { $0.caseIdentifier == caseIdentifier } ? [caseIdentifier] : []
        let remaining = current.filter { $0.caseIdentifier != caseIdentifier }
        guard remaining.count >= maximumEntries else { return .admit(evicting: evicting) }
        let surplus = remaining.count - maximumEntries + 1
        let pseudo = remaining.filter { $0.kind == .pseudoLabelled }.sorted { $0.confidence.score < $1.confidence.score }
        let expert = remaining.filter { $0.kind == .expertLabelled }.sorted { $0.admittedAt < $1.admittedAt }
        var candidates: [PoolEntry]
        switch kind {
        case .pseudoLabelled:
            candidates = Array(pseudo.prefix(surplus))
            guard candidates.count == surplus, candidates.allSatisfy({ $0.confidence.score < score }) else {
                return .full(lowestScore: pseudo.first?.confidence.score ?? 1)
            }
        case .expertLabelled:
            candidates = Array((pseudo + expert).prefix(surplus))
        }
        evicting += candidates.map(\.caseIdentifier)
        return .admit(evicting: evicting)
    }

    /// Writes an entry: copies `inputs` (the four modalities), writes `label` (BraTS 2018 values:
    /// the expert segmentation or the pseudo-label) as `entry.labelFile`, the 8-bit probabilities
    /// and `entry.json`; evicts `evicting` and renames the staged folder into place.
    public func admit(_ entry: PoolEntry, inputs: [String], label: [UInt8], probabilities: [String: [UInt8]],
                      geometry: VolumeGeometry, evicting: [String]) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let staging = "\(directory)/.staging-\(entry.caseIdentifier)-\(getpid())"
        try? manager.removeItem(atPath: staging)
        try manager.createDirectory(atPath: "\(staging)/soft", withIntermediateDirectories: true)
        do {
            for input in inputs {
                let target = "\(staging)/\(URL(fileURLWithPath: input).lastPathComponent)"
                try manager.copyItem(atPath: input, toPath: target)
                try AtomicFile.sync(path: target)
            }
            try NiftiWriter.writeLabels(label, geometry: geometry, to: "\(staging)/\(entry.labelFile)",
                                        description: entry.kind == .expertLabelled ? "expert segmentation" : "brainseg ensemble pseudo-label")
            for (region, file) in entry.probabilityFiles {
                guard let values = probabilities[region] else { continue }
                try NiftiWriter.writeLabels(values, geometry: geometry, to: "\(staging)/\(file)", description: "brainseg P(\(region)) x255")
            }
            try AtomicFile.write([UInt8](try ReadableJSON.encoder.encode(entry)), to: "\(staging)/\(PoolEntry.fileName)")
            for name in evicting { try remove(name) }
            guard rename(staging, "\(directory)/\(entry.caseIdentifier)") == 0 else {
                throw PoolError("cannot move the entry into \(directory): \(String(cString: strerror(errno)))")
            }
            CaseFolders.syncDirectory(directory)
        } catch {
            try? manager.removeItem(atPath: staging)
            throw error
        }
    }

    /// Removes an entry (renamed to a hidden name first, so it disappears at once).
    public func remove(_ name: String) throws {
        guard RootLayout.isSafeCaseName(name) else { throw PoolError("'\(name)' is not a pool entry name") }
        let path = "\(directory)/\(name)"
        guard FileManager.default.fileExists(atPath: path) else { throw PoolError("no pool entry '\(name)' in \(directory)") }
        let doomed = "\(directory)/.removing-\(name)-\(getpid())"
        guard rename(path, doomed) == 0 else { throw PoolError("cannot remove \(path): \(String(cString: strerror(errno)))") }
        try FileManager.default.removeItem(atPath: doomed)
    }

    /// Deletes hidden staging/removal folders a crash left behind.
    public func removeStaleStaging() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(".staging-") || name.hasPrefix(".removing-") {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
    }

    /// Region probabilities over the crop (3 × box voxels) as three 8-bit full-grid volumes
    /// (`probabilityByte` per voxel).
    public static func probabilityBytes(_ probabilities: Tensor, box: VoxelBox, dims: [Int]) -> [String: [UInt8]] {
        let voxels = box.voxelCount
        var result: [String: [UInt8]] = [:]
        probabilities.withUnsafeBufferPointer { values in
            for region in BratsRegion.allCases {
                let start = region.channel * voxels
                let crop = (0..<voxels).map { probabilityByte(values[start + $0]) }
                result[region.rawValue] = box.paste(crop, into: dims, background: 0)
            }
        }
        return result
    }

    /// One probability as a byte: round(p × 255), clamped to [0, 1] first. NaN, which a network
    /// fed extreme intensities can produce, is stored as 0 (no tumour), never trapped on.
    public static func probabilityByte(_ probability: Float) -> UInt8 {
        guard !probability.isNaN else { return 0 }
        return UInt8((min(max(probability, 0), 1) * 255).rounded())
    }
}

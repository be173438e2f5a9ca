import Foundation

/// What `brainseg inspect` reports about a NIfTI file: header facts (version, compression,
/// byte order, dims, voxel size, datatype, scaling, orientation, qform/sform codes, extensions,
/// data offset) and voxel statistics, or the reading error; as text or as JSON.
public struct InspectionReport: Encodable, Sendable {
    public struct Failure: Encodable, Sendable {
        public var kind: String
        public var message: String
    }
    public struct Scaling: Encodable, Sendable {
        public var slope: Double
        public var intercept: Double
        public var applied: Bool
    }
    public struct Statistics: Encodable, Sendable {
        public var min: Float?
        public var max: Float?
        public var mean: Double?
        public var nonZeroVoxels: Int
        public var nonFiniteVoxels: Int
    }

    public var path: String
    public var error: Failure?
    public var niftiVersion: Int?
    public var compressed: Bool?
    public var byteOrder: String?
    public var dims: [Int]?
    public var voxelSize: [Double]?
    public var units: String?
    public var datatype: String?
    public var scaling: Scaling?
    public var orientation: String?
    public var qformCode: Int32?
    public var sformCode: Int32?
    public var extensions: Int?
    public var voxelOffset: Int?
    public var statistics: Statistics?

    public init(path: String, error: NiftiError) {
        self.path = path
        self.error = Failure(kind: error.kind.rawValue, message: error.description)
    }

    public init(_ image: NiftiImage) {
        path = image.path
        let header = image.header
        niftiVersion = header.niftiVersion
        compressed = header.isCompressed
        byteOrder = header.isByteSwapped ? "big-endian" : "little-endian"
        dims = header.dims
        voxelSize = image.geometry.spacing
        units = Self.unitName(image.geometry.spatialUnits)
        datatype = header.datatype.name
        scaling = Scaling(slope: header.scaleSlope, intercept: header.scaleIntercept, applied: header.appliesScaling)
        orientation = image.geometry.orientation
        qformCode = image.geometry.qformCode
        sformCode = image.geometry.sformCode
        extensions = header.extensionCount
        voxelOffset = header.voxelOffset
        let stats = VoxelStatistics(image.voxels)
        let finite = stats.nonFiniteCount < image.voxels.count
        statistics = Statistics(
            min: finite ? stats.minimum : nil, max: finite ? stats.maximum : nil, mean: finite ? stats.mean : nil,
            nonZeroVoxels: stats.nonZeroCount, nonFiniteVoxels: stats.nonFiniteCount)
    }

    public var text: String {
        guard let dims, let voxelSize, let scaling, let statistics else { return path }
        let total = dims.reduce(1, *)
        var lines = [path]
        lines.append("  dims          \(dims.map(String.init).joined(separator: " x "))")
        lines.append("  voxel size    \(voxelSize.map(Self.number).joined(separator: " x ")) \(units ?? "")")
        lines.append("  datatype      \(datatype ?? "?")")
        lines.append("  scaling       " + (scaling.applied
            ? "value × \(Self.number(scaling.slope)) + \(Self.number(scaling.intercept))"
            : "none (scl_slope \(Self.number(scaling.slope)), scl_inter \(Self.number(scaling.intercept)))"))
        lines.append("  orientation   \(orientation ?? "?")")
        lines.append("  qform code    \(Self.xformName(qformCode ?? 0))")
        lines.append("  sform code    \(Self.xformName(sformCode ?? 0))")
        lines.append("  file          NIfTI-\(niftiVersion ?? 0), \(compressed == true ? "gzip" : "uncompressed"), \(byteOrder ?? ""), \(extensions ?? 0) extension(s), data at byte \(voxelOffset ?? 0)")
        if let min = statistics.min, let max = statistics.max, let mean = statistics.mean {
            lines.append("  min/max/mean  \(Self.number(Double(min))) / \(Self.number(Double(max))) / \(Self.number(mean))")
        }
        lines.append("  non-zero      \(statistics.nonZeroVoxels) of \(total) voxels")
        if statistics.nonFiniteVoxels > 0 {
            lines.append("  non-finite    \(statistics.nonFiniteVoxels) voxels (NaN or infinite)")
        }
        return lines.joined(separator: "\n")
    }

    private static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.6g", value)
    }

    private static func unitName(_ code: Int32) -> String {
        switch code {
        case 1: return "m"
        case 2: return "mm"
        case 3: return "µm"
        default: return "(units unknown)"
        }
    }

    private static func xformName(_ code: Int32) -> String {
        let names = [0: "unknown", 1: "scanner", 2: "aligned", 3: "talairach", 4: "mni_152", 5: "template"]
        return "\(code) (\(names[Int(code)] ?? "invalid"))"
    }
}

import ArgumentParser
import Core
import Foundation

/// `brainseg inspect FILE…`: what a NIfTI header says and what the voxels hold.
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Describe NIfTI files: dims, voxel size, datatype, scaling, orientation, statistics."
    )

    @Argument(help: "NIfTI files (.nii or .nii.gz).")
    var files: [String]

    @Flag(help: "Print one JSON array for machines instead of text.")
    var json = false

    func run() async throws {
        var reports: [InspectionReport] = []
        for file in files {
            do {
                let image = try NiftiReader.read(from: file, requireThreeDimensional: false, allowNonFinite: true)
                reports.append(InspectionReport(image))
            } catch let error as NiftiError {
                reports.append(InspectionReport(path: file, error: error))
                if !json { printToStandardError("brainseg: error: \(error)") }
            }
        }
        if json {
            print(try ReadableJSON.string(reports))
        } else {
            let described = reports.filter { $0.error == nil }
            for (index, report) in described.enumerated() {
                if index > 0 { print("") }
                print(report.text)
            }
        }
        if reports.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }
}

/// One file's description, as text or JSON.
struct InspectionReport: Encodable {
    struct Failure: Encodable {
        var kind: String
        var message: String
    }
    struct Scaling: Encodable {
        var slope: Double
        var intercept: Double
        var applied: Bool
    }
    struct Statistics: Encodable {
        var min: Float?
        var max: Float?
        var mean: Double?
        var nonZeroVoxels: Int
        var nonFiniteVoxels: Int
    }

    var path: String
    var error: Failure?
    var niftiVersion: Int?
    var compressed: Bool?
    var byteOrder: String?
    var dims: [Int]?
    var voxelSize: [Double]?
    var units: String?
    var datatype: String?
    var scaling: Scaling?
    var orientation: String?
    var qformCode: Int32?
    var sformCode: Int32?
    var extensions: Int?
    var voxelOffset: Int?
    var statistics: Statistics?

    init(path: String, error: NiftiError) {
        self.path = path
        self.error = Failure(kind: error.kind.rawValue, message: error.description)
    }

    init(_ image: NiftiImage) {
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

    var text: String {
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

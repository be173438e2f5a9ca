import Foundation
import Glibc

/// One benchmark result, encoded with the snake_case keys the `Benchmarks/` scripts share.
public struct BenchReport: Encodable, Sendable {
    public var implementation: String
    public var benchmark: String
    public var mode: String
    public var batch: Int
    public var inChannels: Int
    public var outChannels: Int
    public var size: Int
    public var kernel: Int
    public var stride: Int
    public var padding: Int
    public var groups: Int
    public var threads: Int
    public var threading: String
    public var tileVoxels: Int
    public var weightTileVoxels: Int
    public var inputGradient: String
    public var forwardMethod: String
    public var reps: Int
    public var warmup: Int
    public var medianSeconds: Double
    public var minimumSeconds: Double
    public var maximumSeconds: Double
    public var peakResidentMegabytes: Double
    public var gigaflop: Double
    public var gigaflopPerSecond: Double
    public var openblasCore: String
    /// `ConvolutionTuning.Backend` raw value.
    public var backend: String = ConvolutionTuning.default.backend.rawValue
    /// `ComputePrecision` raw value.
    public var precision: String = ComputePrecision.float32.rawValue
    /// oneDNN's instruction set and the kernel it ran (nil on the engine backend).
    public var onednnISA: String?
    public var onednnImplementation: String?

    public init(implementation: String, benchmark: String, mode: String, batch: Int, inChannels: Int, outChannels: Int, size: Int, kernel: Int, stride: Int, padding: Int, groups: Int, threads: Int, threading: String, tileVoxels: Int, weightTileVoxels: Int, inputGradient: String, forwardMethod: String, reps: Int, warmup: Int, medianSeconds: Double, minimumSeconds: Double, maximumSeconds: Double, peakResidentMegabytes: Double, gigaflop: Double, gigaflopPerSecond: Double, openblasCore: String) {
        self.implementation = implementation
        self.benchmark = benchmark
        self.mode = mode
        self.batch = batch
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.size = size
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.groups = groups
        self.threads = threads
        self.threading = threading
        self.tileVoxels = tileVoxels
        self.weightTileVoxels = weightTileVoxels
        self.inputGradient = inputGradient
        self.forwardMethod = forwardMethod
        self.reps = reps
        self.warmup = warmup
        self.medianSeconds = medianSeconds
        self.minimumSeconds = minimumSeconds
        self.maximumSeconds = maximumSeconds
        self.peakResidentMegabytes = peakResidentMegabytes
        self.gigaflop = gigaflop
        self.gigaflopPerSecond = gigaflopPerSecond
        self.openblasCore = openblasCore
    }

    enum CodingKeys: String, CodingKey {
        case implementation, benchmark, mode, batch, kernel, stride, padding, groups, threads, threading, reps, warmup, size
        case inChannels = "in_channels", outChannels = "out_channels", tileVoxels = "tile_voxels", weightTileVoxels = "weight_tile_voxels", inputGradient = "input_gradient", forwardMethod = "forward_method"
        case medianSeconds = "median_s", minimumSeconds = "min_s", maximumSeconds = "max_s"
        case peakResidentMegabytes = "peak_rss_mb", gigaflop = "gflop", gigaflopPerSecond = "gflops", openblasCore = "openblas_core"
        case backend, precision, onednnISA = "onednn_isa", onednnImplementation = "onednn_implementation"
    }

    public func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// getrusage(RUSAGE_SELF).ru_maxrss (KiB on Linux) in MB (10⁶ bytes).
    public static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) * 1024 / 1e6
    }
}

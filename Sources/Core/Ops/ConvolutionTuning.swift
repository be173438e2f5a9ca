/// How the convolution kernels split their work: tile size, who runs in parallel, and which
/// input-gradient method to use. The defaults are what measured fastest on the project machine
/// (see `Convolution3D`); tests force tiny tiles to exercise tile boundaries, and
/// `brainseg bench conv` exposes every knob so the choice can be re-measured.
public struct ConvolutionTuning: Sendable, Equatable {
    /// Who runs in parallel.
    public enum Threading: String, Sendable, CaseIterable {
        /// The engine's threads (`Parallel.threadCount`) over voxel tiles, OpenBLAS pinned to one
        /// thread.
        case engine
        /// One thread walking the tiles; OpenBLAS uses `Parallel.threadCount` threads inside
        /// each GEMM.
        case blas
    }

    /// How `Convolution3D.backwardInput` works.
    public enum InputGradientMethod: String, Sendable, CaseIterable {
        /// Stride 1: convolution with the flipped, channel-transposed kernel; else col2im.
        case automatic
        /// Always Wᵀ·dY per tile followed by col2im scatter-add.
        case col2im
    }

    /// How a stride-1 forward convolution (and so a stride-1 input gradient and weight gradient) builds its GEMMs.
    public enum ForwardMethod: String, Sendable, CaseIterable {
        /// im2col of each tile (K = Cin/G·k³), one GEMM per tile.
        case im2col
        /// The padded slab read at k³ offsets, k³ GEMMs with K = Cin/G per tile (`ShiftedSlabConvolution`).
        case shiftedSlab = "shifted-slab"
    }

    /// Whose kernels run the convolution.
    public enum Backend: String, Sendable, CaseIterable {
        /// oneDNN (`OneDNNConvolution`), falling back to the engine's kernels for a shape it
        /// refuses. The default: measured faster on every benchmark row.
        case oneDNN = "onednn"
        /// The engine's own GEMM-based kernels (shifted slab, im2col, col2im): the tested
        /// reference path, and the only one the tile and method knobs below apply to.
        case engine
    }

    /// Output voxels per tile (the column count of each GEMM). The column scratch per worker is
    /// K × tileVoxels floats, so this bounds the memory a convolution adds.
    public var tileVoxels: Int
    /// Output voxels per tile of the weight-gradient GEMMs (their inner dimension; larger is
    /// better there, measured 2048 > 1024 > 512 for 64→64 at 64³).
    public var weightTileVoxels: Int
    public var threading: Threading
    public var inputGradientMethod: InputGradientMethod
    public var forwardMethod: ForwardMethod
    public var backend: Backend
    /// bfloat16 applies to the oneDNN backend only (the engine's kernels compute in float32).
    public var precision: ComputePrecision
    /// With the oneDNN backend: run the convolutions `WinogradConvolution` applies to on it (the
    /// forward pass and input gradient in float32 or bfloat16, the weight gradient of the wider
    /// ones in float32; Benchmarks/README.md, "Winograd").
    /// `brainseg bench conv|model --no-winograd` turns it off to compare.
    public var winograd: Bool

    public init(tileVoxels: Int = 1024, threading: Threading = .engine, inputGradientMethod: InputGradientMethod = .automatic,
                forwardMethod: ForwardMethod = .shiftedSlab, weightTileVoxels: Int? = nil, backend: Backend = .oneDNN,
                precision: ComputePrecision = .float32, winograd: Bool = true) {
        precondition(tileVoxels >= 1 && (weightTileVoxels ?? 1) >= 1, "tile sizes must be ≥ 1, got \(tileVoxels), \(weightTileVoxels ?? 0)")
        self.tileVoxels = tileVoxels
        self.weightTileVoxels = weightTileVoxels ?? 2 * tileVoxels
        self.threading = threading
        self.inputGradientMethod = inputGradientMethod
        self.forwardMethod = forwardMethod
        self.backend = backend
        self.precision = precision
        self.winograd = winograd
    }

    /// Whether the Winograd kernel may run (it still has to apply to the shape).
    public var usesWinograd: Bool { backend == .oneDNN && winograd }

    /// The engine's own kernels with these knobs (tests use it as the reference path).
    public var onEngine: ConvolutionTuning {
        var copy = self
        copy.backend = .engine
        return copy
    }

    /// The same tuning at another precision.
    public func with(precision: ComputePrecision) -> ConvolutionTuning {
        var copy = self
        copy.precision = precision
        return copy
    }

    /// The measured default.
    public static let `default` = ConvolutionTuning()

    /// Workers that may run `body` at once (engine threading) or 1 (BLAS threading).
    var maximumWorkers: Int { threading == .engine ? max(1, Parallel.threadCount) : 1 }

    /// Runs `body(worker, items)` over `0..<count` work items with this threading, setting the
    /// OpenBLAS thread count for the duration (1 inside engine threads, `Parallel.threadCount`
    /// otherwise) and restoring it afterwards, so the two kinds of threads never run together.
    func run(_ count: Int, workers: Int? = nil, _ body: @Sendable (_ worker: Int, _ items: Range<Int>) -> Void) {
        guard count > 0 else { return }
        let saved = BLAS.threadCount
        switch threading {
        case .engine:
            if saved != 1 { BLAS.threadCount = 1 }
            Parallel.forEachWorker(count, workers: min(workers ?? maximumWorkers, maximumWorkers), body)
        case .blas:
            let wanted = max(1, Parallel.threadCount)
            if saved != wanted { BLAS.threadCount = wanted }
            body(0, 0..<count)
        }
        if BLAS.threadCount != saved { BLAS.threadCount = saved }
    }
}

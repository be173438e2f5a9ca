import CNifti
import Core
import Foundation
import Testing
import TestSupport

/// A seeded mutation fuzzer for `NiftiReader` (issue #13).
///
/// Inputs are the committed fixtures (`Tests/Fixtures/nifti`, NIfTI-1 and -2, plain and gzip,
/// both byte orders, with extensions) plus every crash or acceptance ever found
/// (`Tests/Fixtures/fuzz/regressions`). Each run decompresses a corpus file, mutates it (bit
/// flips, interesting values written into header fields, truncation, appended bytes, a
/// changed gzip stream or trailer), stores it plain or gzip, and reads it.
///
/// Two outcomes fail the suite:
/// - **a crash**: the process dies; the input being read is always on disk first
///   (`$TMPDIR/brainseg-fuzz-current-input*`), so it can be added to `regressions/`;
/// - **a corrupt file accepted**: the reader returns an image although `IndependentNiftiCheck`
///   (written from the NIfTI-1/-2 standard, not from the reader) finds the header or the gzip
///   container invalid.
///
/// The CI run takes `BRAINSEG_FUZZ_SECONDS` (default 20) with seed `BRAINSEG_FUZZ_SEED`
/// (default 1). The long run (1 hour) is `scripts/fuzz-nifti-reader.sh 3600`.
@Suite("NIfTI reader fuzzing (seeded mutations)")
struct NiftiReaderFuzzTests {
    @Test("no mutated file crashes the reader or is accepted while corrupt", .timeLimit(.minutes(70)))
    func fuzz() throws {
        let environment = ProcessInfo.processInfo.environment
        let seconds = Double(environment["BRAINSEG_FUZZ_SECONDS"] ?? "") ?? 20
        var generator = SeededRandom(seed: UInt64(environment["BRAINSEG_FUZZ_SEED"] ?? "") ?? 1)
        let corpus = try FuzzCorpus.load()
        #expect(corpus.count >= 15)
        let scratch = NSTemporaryDirectory() + "/brainseg-fuzz-current-input-\(getpid())"
        var statistics = FuzzStatistics()
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let seedFile = corpus[Int(generator.next() % UInt64(corpus.count))]
            let mutant = FuzzMutator.mutate(seedFile, using: &generator)
            let path = scratch + (mutant.isCompressed ? ".nii.gz" : ".nii")
            try Data(mutant.fileBytes).write(to: URL(fileURLWithPath: path))
            statistics.runs += 1
            do {
                _ = try NiftiReader.read(from: path, requireThreeDimensional: false, allowNonFinite: true)
                statistics.accepted += 1
                let problems = IndependentNiftiCheck.problems(in: mutant)
                if !problems.isEmpty {
                    statistics.corruptAccepted += 1
                    let kept = scratch + "-accepted-\(statistics.corruptAccepted)" + (mutant.isCompressed ? ".nii.gz" : ".nii")
                    try? Data(mutant.fileBytes).write(to: URL(fileURLWithPath: kept))
                    Issue.record("corrupt file accepted (\(problems.joined(separator: "; "))), kept as \(kept)")
                }
            } catch let error as NiftiError {
                statistics.refused[error.kind.rawValue, default: 0] += 1
            }
            unlink(path)
        }
        print("fuzz: \(statistics)")
        #expect(statistics.runs > 100)
        #expect(statistics.corruptAccepted == 0)
        #expect(statistics.accepted > 0, "some mutations (voxel data, benign fields) must stay readable")
    }
}

struct FuzzStatistics: CustomStringConvertible {
    var runs = 0
    var accepted = 0
    var corruptAccepted = 0
    var refused: [String: Int] = [:]
    var description: String {
        let kinds = refused.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "\(runs) runs, 0 crashes, \(accepted) accepted, \(corruptAccepted) corrupt accepted, refused: \(kinds)"
    }
}

/// One corpus file, decompressed, with how it was stored.
struct FuzzSeed {
    let bytes: [UInt8]
    let isCompressed: Bool
}

/// A mutated input: the decompressed bytes, the file as written, and what was done to the
/// gzip container (the oracle must know whether the container itself was damaged).
struct FuzzMutant {
    var bytes: [UInt8]
    var isCompressed: Bool
    var fileBytes: [UInt8] = []
    /// True when bytes after the gzip trailer, or inside the deflate data, CRC or length, changed.
    var containerDamaged = false
}

enum FuzzCorpus {
    static func load() throws -> [FuzzSeed] {
        var paths = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("nifti"))
            .filter { $0.hasSuffix(".nii") || $0.hasSuffix(".nii.gz") }.map { Fixtures.path("nifti/\($0)") }
        let regressions = Fixtures.path("fuzz/regressions")
        paths += ((try? FileManager.default.contentsOfDirectory(atPath: regressions)) ?? []).filter { !$0.hasPrefix(".") }
            .map { "\(regressions)/\($0)" }
        return try paths.sorted().map { path in
            let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let compressed = raw.count >= 2 && raw[0] == 0x1F && raw[1] == 0x8B
            return FuzzSeed(bytes: compressed ? Gzip.decompress(raw) : raw, isCompressed: compressed)
        }
    }
}

enum FuzzMutator {
    /// Header fields worth hitting with interesting values: (offset, width) in a NIfTI-1 header.
    static let fields: [(Int, Int)] = [(0, 4), (40, 2), (42, 2), (44, 2), (46, 2), (48, 2), (56, 2), (70, 2), (72, 2),
                                       (76, 4), (80, 4), (84, 4), (88, 4), (108, 4), (112, 4), (116, 4), (252, 2),
                                       (254, 2), (344, 4), (348, 4)]
    static let interesting32: [UInt32] = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, Float.nan.bitPattern,
                                          Float.infinity.bitPattern, (-Float.infinity).bitPattern, Float(1e9).bitPattern,
                                          Float(9.3e18).bitPattern, Float(350).bitPattern, Float(352.5).bitPattern,
                                          Float(352).bitPattern, Float(-1).bitPattern, 348, 540]
    static let interesting16: [UInt16] = [0, 1, 3, 7, 8, 0xFFFF, 0x7FFF, 0x8000, 1024, 1025, 2, 4, 16, 64]

    static func mutate(_ seed: FuzzSeed, using generator: inout SeededRandom) -> FuzzMutant {
        var mutant = FuzzMutant(bytes: seed.bytes, isCompressed: seed.isCompressed)
        for _ in 0..<(1 + Int(generator.next() % 3)) {
            applyOne(to: &mutant.bytes, using: &generator)
        }
        if generator.next() % 8 == 0 { mutant.isCompressed.toggle() }
        mutant.fileBytes = mutant.isCompressed ? Gzip.compress(mutant.bytes) : mutant.bytes
        if mutant.isCompressed, generator.next() % 6 == 0 {
            damageContainer(&mutant, using: &generator)
        }
        return mutant
    }

    private static func applyOne(to bytes: inout [UInt8], using generator: inout SeededRandom) {
        // An earlier truncation can leave nothing: give the file bytes to mutate again.
        if bytes.isEmpty { bytes = [UInt8](repeating: 0, count: 1 + Int(generator.next() % 400)) }
        switch generator.next() % 6 {
        case 0:  // a bit flip in the header region
            let index = Int(generator.next() % UInt64(min(bytes.count, 560)))
            bytes[index] ^= UInt8(1 << (generator.next() % 8))
        case 1:  // a bit flip anywhere (often voxel data: a valid file)
            let index = Int(generator.next() % UInt64(bytes.count))
            bytes[index] ^= UInt8(1 << (generator.next() % 8))
        case 2, 3:  // an interesting value in a header field
            let (offset, width) = fields[Int(generator.next() % UInt64(fields.count))]
            if offset + width > bytes.count {   // a short file: flip a bit instead
                bytes[Int(generator.next() % UInt64(bytes.count))] ^= 1
            } else if width == 4 {
                let value = interesting32[Int(generator.next() % UInt64(interesting32.count))]
                let ordered = generator.next() % 2 == 0 ? value.littleEndian : value.bigEndian
                withUnsafeBytes(of: ordered) { bytes.replaceSubrange(offset..<offset + 4, with: $0) }
            } else {
                let value = interesting16[Int(generator.next() % UInt64(interesting16.count))]
                withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + 2, with: $0) }
            }
        case 4:  // truncation
            bytes.removeLast(Int(generator.next() % UInt64(bytes.count)))
        default:  // appended bytes (after the voxel data: harmless for plain files)
            bytes += (0..<Int(1 + generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        }
    }

    private static func damageContainer(_ mutant: inout FuzzMutant, using generator: inout SeededRandom) {
        switch generator.next() % 3 {
        case 0:
            mutant.fileBytes += (0..<Int(1 + generator.next() % 32)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        case 1:  // CRC or ISIZE
            let index = mutant.fileBytes.count - 1 - Int(generator.next() % 8)
            mutant.fileBytes[index] ^= UInt8(1 << (generator.next() % 8))
        default:  // the deflate data (every gzip file has ≥ 18 bytes of header and trailer)
            let index = 10 + Int(generator.next() % UInt64(max(1, mutant.fileBytes.count - 18)))
            mutant.fileBytes[index] ^= UInt8(1 << (generator.next() % 8))
        }
        mutant.containerDamaged = true
    }
}

/// The oracle: NIfTI-1 / NIfTI-2 single-file rules from the standard (nifti1.h, nifti2.h),
/// written independently of the reader. Returns what is wrong with a file, or nothing.
enum IndependentNiftiCheck {
    static func problems(in mutant: FuzzMutant) -> [String] {
        var problems: [String] = []
        if mutant.containerDamaged, Gzip.decompress(mutant.fileBytes, strict: true) != mutant.bytes {
            problems.append("gzip container damaged")
        }
        let bytes = mutant.bytes
        guard bytes.count >= 348 else { return ["shorter than a header"] }
        func int32(_ offset: Int, swapped: Bool) -> Int32 {
            let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) }
            return swapped ? value.byteSwapped : value
        }
        let size = int32(0, swapped: false)
        let swapped = size != 348 && size != 540
        let headerSize = Int(int32(0, swapped: swapped))
        guard headerSize == 348 || (headerSize == 540 && bytes.count >= 540) else { return ["sizeof_hdr"] }
        let isVersion1 = headerSize == 348
        let magic = isVersion1 ? Array(bytes[344..<348]) : Array(bytes[4..<12])
        let expected: [UInt8] = isVersion1 ? Array("n+1\0".utf8) : [0x6E, 0x2B, 0x32, 0, 0x0D, 0x0A, 0x1A, 0x0A]
        if magic != expected { problems.append("magic") }
        func int16(_ offset: Int) -> Int {
            let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int16.self) }
            return Int(swapped ? value.byteSwapped : value)
        }
        func int64(_ offset: Int) -> Int64 {
            let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int64.self) }
            return swapped ? value.byteSwapped : value
        }
        func real(_ offset: Int) -> Double {
            if isVersion1 {
                let bits = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
                return Double(Float(bitPattern: swapped ? bits.byteSwapped : bits))
            }
            let bits = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
            return Double(bitPattern: swapped ? bits.byteSwapped : bits)
        }
        let dims: [Int64] = (0..<8).map { isVersion1 ? Int64(int16(40 + 2 * $0)) : int64(16 + 8 * $0) }
        guard (1...7).contains(dims[0]) else { return problems + ["dim[0]"] }
        let sizes = dims[1...Int(dims[0])]
        guard sizes.allSatisfy({ (1...1024).contains($0) }) else { return problems + ["dims"] }
        let voxelOffset = isVersion1 ? real(108) : Double(int64(168))
        if !(voxelOffset.isFinite && voxelOffset == voxelOffset.rounded() && voxelOffset >= Double(headerSize + 4)) {
            problems.append("vox_offset")
        }
        let spacing = (1...3).map { real((isVersion1 ? 76 : 104) + (isVersion1 ? 4 : 8) * $0) }
        if !spacing.allSatisfy({ $0.isFinite && $0 > 0 }) { problems.append("pixdim") }
        let bitsPerVoxel = int16(isVersion1 ? 72 : 14)
        let voxels = sizes.reduce(1) { $0 * Double($1) }
        if voxelOffset.isFinite, voxelOffset >= 0, Double(bytes.count) < voxelOffset + voxels * Double(max(bitsPerVoxel, 0)) / 8 {
            problems.append("data shorter than declared")
        }
        return problems
    }
}

/// gzip through zlib (the test's own use, independent of the reader's stream code).
enum Gzip {
    static func compress(_ bytes: [UInt8]) -> [UInt8] {
        let path = NSTemporaryDirectory() + "/brainseg-fuzz-gz-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(path) }
        guard let file = gzopen(path, "wb6") else { return [] }
        _ = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        gzclose(file)
        return [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data())
    }

    /// The decompressed bytes; with `strict`, nil unless the whole file is one valid stream.
    static func decompress(_ bytes: [UInt8], strict: Bool = false) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = bytes
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { inputBuffer in
            stream.next_in = inputBuffer.baseAddress
            stream.avail_in = UInt32(inputBuffer.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { chunkBuffer in
                    stream.next_out = chunkBuffer.baseAddress
                    stream.avail_out = UInt32(chunkBuffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    output += chunkBuffer[0..<(chunkBuffer.count - Int(stream.avail_out))]
                }
            } while status == Z_OK
        }
        if strict { return status == Z_STREAM_END && stream.avail_in == 0 ? output : nil }
        return output
    }

    static func decompress(_ bytes: [UInt8]) -> [UInt8] { decompress(bytes, strict: false) ?? [] }
}

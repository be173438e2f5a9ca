import Core
import Foundation
import Testing
import TestSupport

@Suite("safetensors")
struct SafeTensorsTests {
    @Test("round trip keeps names, shapes, values and metadata")
    func roundTrip() throws {
        let scratch = try TemporaryDirectory()
        var random = SeededRandom(seed: 9)
        let file = SafeTensors(
            tensors: ["b.weight": Tensor.randomNormal(shape: [3, 2, 1, 1, 1], random: &random),
                      "a.bias": Tensor(shape: [3], values: [1, -2, 0.5]), "empty": Tensor(shape: [0])],
            metadata: ["model": "student", "steps": "10"])
        try file.write(to: scratch.file("w.safetensors"))
        let back = try SafeTensors.read(from: scratch.file("w.safetensors"))
        #expect(back.metadata == file.metadata)
        #expect(Set(back.tensors.keys) == ["b.weight", "a.bias", "empty"])
        for (name, tensor) in file.tensors {
            #expect(back.tensors[name]?.shape == tensor.shape)
            #expect(back.tensors[name]?.scalars == tensor.scalars)
        }
        #expect(scratch.contents() == ["w.safetensors"])
    }

    @Test("reads the file the Python safetensors library wrote, including F64/F16/BF16")
    func readsPythonFile() throws {
        let file = try SafeTensors.read(from: Fixtures.path("torch/format/dtypes.safetensors"))
        #expect(file.metadata["writer"] == "\"fixture_io\"")
        for dtype in ["f32", "f64", "f16", "bf16"] {
            #expect(file.tensors[dtype]?.shape == [2, 3])
            #expect(file.tensors[dtype]?.scalars == [0, 1, -2, 0.5, 3, -0.25], "\(dtype)")
        }
    }

    /// A safetensors file of `header` (JSON) and no tensor data.
    static func file(_ header: String) -> [UInt8] {
        let json = Array(header.utf8)
        return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
    }

    @Test("malformed files give errors naming the file, never a trap")
    func malformed() throws {
        let scratch = try TemporaryDirectory()
        let cases: [(String, [UInt8])] = [
            ("short", [1, 2, 3]),
            ("badlength", [255, 255, 255, 255, 0, 0, 0, 0, 1]),
            ("notjson", [4, 0, 0, 0, 0, 0, 0, 0] + Array("abcd".utf8)),
            ("badoffsets", [UInt8]([48, 0, 0, 0, 0, 0, 0, 0]) + Array(#"{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}"#.utf8.prefix(48))),
            // One flipped high bit in the header length trapped in Int(_:) (adversarial run).
            ("highbit", [4, 0, 0, 0, 0, 0, 0, 128] + Array("{}  ".utf8)),
            // A shape whose product overflows Int trapped too.
            ("hugeshape", Self.file(#"{"x":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}"#)),
        ]
        for (name, bytes) in cases {
            let path = scratch.file("\(name).safetensors")
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            #expect { try SafeTensors.read(from: path) } throws: { error in
                (error as? SafeTensors.FormatError)?.path == path
            }
        }
    }
}

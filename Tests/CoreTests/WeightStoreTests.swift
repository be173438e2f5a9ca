import Core
import Foundation
import Testing
import TestSupport

@Suite("Weight store")
struct WeightStoreTests {
    static func network(seed: UInt64 = 3) -> [Parameter] {
        var random = SeededRandom(seed: seed)
        return [Parameter(name: "stem.conv.weight", value: Tensor.randomNormal(shape: [4, 2, 3, 3, 3], random: &random)),
                Parameter(name: "stem.norm.weight", value: Tensor.randomNormal(shape: [4], random: &random)),
                Parameter(name: "head.conv.weight", value: Tensor.randomNormal(shape: [3, 4, 1, 1, 1], random: &random)),
                Parameter(name: "head.conv.bias", value: Tensor.randomNormal(shape: [3], random: &random))]
    }

    @Test("save then load restores every value and the metadata, atomically")
    func roundTrip() throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("student.safetensors")
        let saved = Self.network(seed: 3)
        try WeightStore.save(saved, to: path, metadata: ["model": "student", "steps": "120"])
        #expect(scratch.contents() == ["student.safetensors"])  // no temporary left behind
        let loaded = Self.network(seed: 4)
        #expect(loaded[0].value.scalars != saved[0].value.scalars)
        let metadata = try WeightStore.load(path, into: loaded)
        #expect(metadata == ["model": "student", "steps": "120"])
        for (a, b) in zip(loaded, saved) { #expect(a.value.scalars == b.value.scalars, "\(a.name)") }
    }

    @Test("a missing, an extra and a mis-shaped tensor give one error naming all three; nothing is loaded")
    func reportsEveryMismatch() throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("bad.safetensors")
        var tensors = Dictionary(uniqueKeysWithValues: Self.network().map { ($0.name, $0.value) })
        tensors["stem.norm.weight"] = nil                                    // missing
        tensors["head.conv.bias"] = Tensor(shape: [4])                       // wrong shape
        tensors["vae.dense.weight"] = Tensor(shape: [2, 2])                  // unexpected
        try SafeTensors(tensors: tensors).write(to: path)

        let target = Self.network(seed: 9)
        let before = target.map(\.value.scalars)
        do {
            try WeightStore.load(path, into: target)
            Issue.record("loading a mismatched file succeeded")
        } catch let error as WeightStoreError {
            #expect(error.path == path)
            #expect(error.problems.count == 3)
            #expect(error.problems.contains(.missing(name: "stem.norm.weight", expectedShape: [4])))
            #expect(error.problems.contains(.shapeMismatch(name: "head.conv.bias", expectedShape: [3], foundShape: [4])))
            #expect(error.problems.contains(.unexpected(name: "vae.dense.weight", foundShape: [2, 2])))
            let message = error.description
            for name in ["stem.norm.weight", "head.conv.bias", "vae.dense.weight", path, "3 problems"] {
                #expect(message.contains(name), "message lacks \(name): \(message)")
            }
        }
        #expect(target.map(\.value.scalars) == before)
    }

    @Test("allow-listed extras (exact names and prefixes) are ignored; others are still reported")
    func allowList() throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("released.safetensors")
        var tensors = Dictionary(uniqueKeysWithValues: Self.network().map { ($0.name, $0.value) })
        tensors["decoder_convs.3.0.conv1.conv1.weight"] = Tensor(shape: [2])
        tensors["decoder_convs.3.0.norm1.bias"] = Tensor(shape: [2])
        tensors["decoder_convs1x1.3.weight"] = Tensor(shape: [1])
        tensors["num_batches_tracked"] = Tensor(shape: [1])
        try SafeTensors(tensors: tensors).write(to: path)
        let allowList = ["decoder_convs.3.*", "decoder_convs1x1.3.*", "num_batches_tracked"]

        let target = Self.network(seed: 11)
        try WeightStore.load(path, into: target, ignoring: allowList)
        #expect(target[3].value.scalars == tensors["head.conv.bias"]!.scalars)

        // Without the allow-list every extra is named; a prefix must not match a sibling group.
        #expect { try WeightStore.load(path, into: Self.network()) } throws: { error in
            (error as? WeightStoreError)?.problems.count == 4
        }
        tensors["decoder_convs.30.weight"] = Tensor(shape: [1])
        try SafeTensors(tensors: tensors).write(to: path)
        #expect { try WeightStore.load(path, into: Self.network(), ignoring: allowList) } throws: { error in
            (error as? WeightStoreError)?.problems == [.unexpected(name: "decoder_convs.30.weight", foundShape: [1])]
        }
    }

    @Test("NaN weights and duplicate parameter names are refused")
    func nonFiniteAndDuplicates() throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("diverged.safetensors")
        let network = Self.network()
        network[1].value[flat: 2] = .nan
        try WeightStore.save(network, to: path)
        #expect { try WeightStore.load(path, into: Self.network()) } throws: { error in
            (error as? WeightStoreError)?.problems.map(\.name) == ["stem.norm.weight"]
        }
        let duplicated = Self.network() + [Parameter(name: "head.conv.bias", value: Tensor(shape: [3]))]
        #expect(throws: WeightStoreError.self) { try WeightStore.save(duplicated, to: scratch.file("dup.safetensors")) }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("dup.safetensors")))
    }

    @Test("an unreadable file gives the format error naming the file")
    func unreadable() throws {
        let scratch = try TemporaryDirectory()
        let path = scratch.file("missing.safetensors")
        #expect { try WeightStore.load(path, into: Self.network()) } throws: { error in
            (error as? SafeTensors.FormatError)?.path == path
        }
    }
}

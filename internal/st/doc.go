// Package st ("scheduler testing") holds fluent builders for the objects
// scheduler tests are made of: MakePod().Name("p").Req(...).Obj(),
// MakeNode().Name("n").Capacity(...).Obj(). Tests in the main module and
// the kube module (conformance) build their cases with it, so a case reads
// as the scenario it describes.
package st

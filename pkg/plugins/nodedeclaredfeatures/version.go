package nodedeclaredfeatures

import (
	"k8s.io/apimachinery/pkg/util/version"
)

// targetVersionString is the Kubernetes version whose scheduler berth
// stands in for when it decides which features a pod still needs.
//
// The library drops a requirement once the target version is past the
// feature's MaxVersion (the release after which every supported node has
// it, given the version-skew policy). kube-scheduler passes its own binary
// version (component-base's version.Get(), "v1.37.2" for a v1.37.2 build),
// and a release of kube-scheduler ships the component-helpers release with
// the same minor and patch (v0.37.2). berth links component-helpers
// v0.37.2, so it compares against 1.37.2: the version a kube-scheduler with
// the very same feature registry would use. TestTargetVersionMatchesLibrary
// fails when go.mod moves component-helpers without this constant.
//
// berth's own version is not a Kubernetes version and cannot be used, and
// the feature list ages with the library, not with berth. (Upstream builds
// without version ldflags, such as the conformance oracle, report 0.0.0;
// no v1.37 feature sets a MaxVersion, so every version infers the same.)
const targetVersionString = "1.37.2"

// targetVersion is targetVersionString, parsed once.
var targetVersion = version.MustParseSemantic(targetVersionString)

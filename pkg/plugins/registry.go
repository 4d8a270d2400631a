package plugins

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/berthsched/berth/pkg/framework"
	"github.com/berthsched/berth/pkg/plugins/defaultbinder"
	"github.com/berthsched/berth/pkg/plugins/defaultpreemption"
	"github.com/berthsched/berth/pkg/plugins/dynamicresources"
	"github.com/berthsched/berth/pkg/plugins/gangscheduling"
	"github.com/berthsched/berth/pkg/plugins/gpushare"
	"github.com/berthsched/berth/pkg/plugins/imagelocality"
	"github.com/berthsched/berth/pkg/plugins/interpodaffinity"
	"github.com/berthsched/berth/pkg/plugins/loadaware"
	"github.com/berthsched/berth/pkg/plugins/networkaware"
	"github.com/berthsched/berth/pkg/plugins/nodeaffinity"
	"github.com/berthsched/berth/pkg/plugins/nodedeclaredfeatures"
	"github.com/berthsched/berth/pkg/plugins/nodename"
	"github.com/berthsched/berth/pkg/plugins/nodeports"
	"github.com/berthsched/berth/pkg/plugins/nodepreference"
	"github.com/berthsched/berth/pkg/plugins/noderesources"
	"github.com/berthsched/berth/pkg/plugins/nodeunschedulable"
	"github.com/berthsched/berth/pkg/plugins/nodevolumelimits"
	"github.com/berthsched/berth/pkg/plugins/podtopologyspread"
	"github.com/berthsched/berth/pkg/plugins/prioritysort"
	"github.com/berthsched/berth/pkg/plugins/schedulinggates"
	"github.com/berthsched/berth/pkg/plugins/storagelocality"
	"github.com/berthsched/berth/pkg/plugins/tainttoleration"
	"github.com/berthsched/berth/pkg/plugins/volumebinding"
	"github.com/berthsched/berth/pkg/plugins/volumerestrictions"
	"github.com/berthsched/berth/pkg/plugins/volumezone"
)

// NewInTreeRegistry returns every plugin that ships with berth. Callers
// may add out-of-tree plugins to the returned map before building the
// scheduler.
func NewInTreeRegistry() framework.Registry {
	return framework.Registry{
		prioritysort.Name:       {Factory: prioritysort.New},
		schedulinggates.Name:    {Factory: schedulinggates.New},
		nodename.Name:           {Factory: nodename.New},
		nodeunschedulable.Name:  {Factory: nodeunschedulable.New},
		nodeports.Name:          {Factory: nodeports.New},
		tainttoleration.Name:    {Factory: tainttoleration.New},
		imagelocality.Name:      {Factory: imagelocality.New},
		defaultbinder.Name:      {Factory: defaultbinder.New},
		volumerestrictions.Name: {Factory: volumerestrictions.New},
		nodevolumelimits.Name:   {Factory: nodevolumelimits.New},
		volumezone.Name:         {Factory: volumezone.New},
		nodeaffinity.Name: {Factory: nodeaffinity.New, Args: argsSpec(
			func(*configv1.NodeAffinityArgs) {}, nodeaffinity.ValidateArgs)},
		noderesources.Name: {Factory: noderesources.NewFit, Args: argsSpec(
			noderesources.SetDefaultsFitArgs, noderesources.ValidateFitArgs)},
		defaultpreemption.Name: {Factory: defaultpreemption.New, Args: argsSpec(
			defaultpreemption.SetDefaultArgs, defaultpreemption.ValidateArgs)},
		interpodaffinity.Name: {Factory: interpodaffinity.New, Args: argsSpec(
			interpodaffinity.SetDefaultArgs, interpodaffinity.ValidateArgs)},
		podtopologyspread.Name: {Factory: podtopologyspread.New, Args: argsSpec(
			podtopologyspread.SetDefaultArgs, podtopologyspread.ValidateArgs)},
		storagelocality.Name: {Factory: storagelocality.New, Args: argsSpec(
			storagelocality.SetDefaultArgs, storagelocality.ValidateArgs)},
		volumebinding.Name: {Factory: volumebinding.New, Args: argsSpec(
			volumebinding.SetDefaultArgs, volumebinding.ValidateArgs)},
		dynamicresources.Name: {Factory: dynamicresources.New, Args: argsSpec(
			dynamicresources.SetDefaultArgs, dynamicresources.ValidateArgs)},
		noderesources.BalancedAllocationName: {Factory: noderesources.NewBalancedAllocation, Args: argsSpec(
			noderesources.SetDefaultsBalancedAllocationArgs, noderesources.ValidateBalancedAllocationArgs)},
		nodedeclaredfeatures.Name: {Factory: nodedeclaredfeatures.New},
		gpushare.Name: {Factory: gpushare.New, Args: argsSpec(
			gpushare.SetDefaultArgs, gpushare.ValidateArgs)},
		gangscheduling.Name: {Factory: gangscheduling.New, Args: argsSpec(
			gangscheduling.SetDefaultArgs, gangscheduling.ValidateArgs)},
		loadaware.Name: {Factory: loadaware.New, Args: argsSpec(
			loadaware.SetDefaultArgs, loadaware.ValidateArgs)},
		nodepreference.Name: {Factory: nodepreference.New, Args: argsSpec(
			nodepreference.SetDefaultArgs, nodepreference.ValidateArgs)},
		networkaware.Name: {Factory: networkaware.New, Args: argsSpec(
			networkaware.SetDefaultArgs, networkaware.ValidateArgs)},
	}
}

// argsSpec adapts a plugin's typed defaulting and validation functions.
func argsSpec[T any, PT interface {
	*T
	runtime.Object
}](def func(PT), validate func(PT, *field.Path) field.ErrorList) *framework.ArgsSpec {
	return &framework.ArgsSpec{
		New:      func() runtime.Object { return PT(new(T)) },
		Default:  func(o runtime.Object) { def(o.(PT)) },
		Validate: func(o runtime.Object, p *field.Path) field.ErrorList { return validate(o.(PT), p) },
	}
}

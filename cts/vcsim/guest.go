// What the simulator lacks for a guest shutdown and a VM's boot order
// (see main.go's header): VMware Tools that can be running, ShutdownGuest
// refused without them, and an order cleared the way vSphere clears it.

package main

import (
	"fmt"
	"net/http"
	"reflect"
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// shutdownGuest: vSphere answers ToolsUnavailable when VMware Tools is not
// running in the guest (API reference, VirtualMachine.ShutdownGuest); the
// simulator powers any VM off. A VM whose tools run (POST /vm/tools) is
// left to the simulator, which powers it off at once; its tools stop with
// the guest.
func (f *frontEnd) shutdownGuest(w http.ResponseWriter, r *http.Request, body []byte) {
	method, err := simulator.UnmarshalBody(typeFunc, body)
	if err != nil || sessionUser(r) == "" {
		f.forward(w, r, body)
		return
	}
	vm := lookupVM(method.This)
	if vm == nil {
		f.forward(w, r, body)
		return
	}
	var running bool
	withLock(vm, func() {
		running = vm.Guest != nil &&
			vm.Guest.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
	})
	if !running {
		writeFault(w, "Cannot complete operation because VMware Tools is not running in this virtual machine.",
			&types.ToolsUnavailable{})
		return
	}
	if f.forward(w, r, body) == http.StatusOK {
		setToolsRunning(vm, false)
	}
}

func setToolsRunning(vm *simulator.VirtualMachine, running bool) {
	status := types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
	tools := types.VirtualMachineToolsStatusToolsNotRunning
	if running {
		status = types.VirtualMachineToolsRunningStatusGuestToolsRunning
		tools = types.VirtualMachineToolsStatusToolsOk
	}
	withLock(vm, func() {
		simulator.Map.Update(vm, []types.PropertyChange{
			{Name: "guest.toolsRunningStatus", Val: string(status)},
			{Name: "guest.toolsStatus", Val: tools},
		})
	})
}

// reconfigVM: vSphere clears a boot order given as one entry of the base
// type VirtualMachineBootOptionsBootableDevice (govmomi's
// object.VirtualDeviceList.BootOrder, "-"); the simulator stores the entry.
func (f *frontEnd) reconfigVM(w http.ResponseWriter, r *http.Request, body []byte) {
	method, err := simulator.UnmarshalBody(typeFunc, body)
	if f.forward(w, r, body) != http.StatusOK || err != nil {
		return
	}
	vm := lookupVM(method.This)
	if vm == nil {
		return
	}
	base := reflect.TypeOf(&types.VirtualMachineBootOptionsBootableDevice{})
	withLock(vm, func() {
		if vm.Config == nil || vm.Config.BootOptions == nil {
			return
		}
		var kept []types.BaseVirtualMachineBootOptionsBootableDevice
		for _, d := range vm.Config.BootOptions.BootOrder {
			if reflect.TypeOf(d) != base {
				kept = append(kept, d)
			}
		}
		vm.Config.BootOptions.BootOrder = kept
	})
}

// guestBootStatus: GET /vm's fields for this file's behaviours.
type guestBootStatus struct {
	ToolsRunning bool     `json:"tools_running"`
	Firmware     string   `json:"firmware"`
	BootOrder    []string `json:"boot_order"`
}

// guestBootOf reads a VM its caller holds the lock of.
func guestBootOf(vm *simulator.VirtualMachine) guestBootStatus {
	s := guestBootStatus{BootOrder: bootOrderWords(vm)}
	s.ToolsRunning = vm.Guest != nil &&
		vm.Guest.ToolsRunningStatus == string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
	if vm.Config != nil {
		s.Firmware = vm.Config.Firmware
	}
	return s
}

// bootOrderWords: a VM's boot order for GET /vm: "cdrom", "floppy",
// "disk:KEY", "ethernet:KEY".
func bootOrderWords(vm *simulator.VirtualMachine) []string {
	words := []string{}
	if vm.Config == nil || vm.Config.BootOptions == nil {
		return words
	}
	for _, d := range vm.Config.BootOptions.BootOrder {
		switch e := d.(type) {
		case *types.VirtualMachineBootOptionsBootableCdromDevice:
			words = append(words, "cdrom")
		case *types.VirtualMachineBootOptionsBootableFloppyDevice:
			words = append(words, "floppy")
		case *types.VirtualMachineBootOptionsBootableDiskDevice:
			words = append(words, fmt.Sprintf("disk:%d", e.DeviceKey))
		case *types.VirtualMachineBootOptionsBootableEthernetDevice:
			words = append(words, fmt.Sprintf("ethernet:%d", e.DeviceKey))
		default:
			words = append(words, reflect.TypeOf(d).Elem().Name())
		}
	}
	return words
}

// controlTools: POST /vm/tools?moref=vm-1&running=true|false:
// guest.toolsRunningStatus (and toolsStatus) as VMware Tools in a running
// guest reports them.
func controlTools(w http.ResponseWriter, r *http.Request) {
	vm, ok := controlVM(w, r)
	if !ok {
		return
	}
	running, err := strconv.ParseBool(r.URL.Query().Get("running"))
	if err != nil {
		jsonError(w, http.StatusBadRequest, "running must be true or false")
		return
	}
	setToolsRunning(vm, running)
	writeJSON(w, http.StatusOK, statusOf(vm))
}

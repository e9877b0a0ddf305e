# A VEBA-style function, written the way the VMware Event Broker Appliance's
# Knative Python examples are (examples/knative/python/kn-py-*/handler.py):
# a Flask app that reads a CloudEvent with the CloudEvents SDK's from_http
# and works on event.data, the vCenter event as VEBA serialised it.
#
# It reacts to VM power-on (VmPoweredOnEvent and DrsVmPoweredOnEvent, as
# kn-py-vm-attr does) and answers with what it saw. Nothing in it knows
# about vcgate: run it
#   - as a vcgate `webhook` function (it is an HTTP server, like a Knative
#     service: `PORT=8080 python3 handler.py`), with event_format = "veba"
#     and encoding = "binary", or
#   - as a vcgate `command` function through vcgate-veba-adapter.py.
# Needs: pip install flask cloudevents
from flask import Flask, request, jsonify
from cloudevents.http import from_http
import logging, os

logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')

app = Flask(__name__)

POWERED_ON = ["com.vmware.vsphere.VmPoweredOnEvent.v0", "com.vmware.vsphere.DrsVmPoweredOnEvent.v0"]


@app.route('/', methods=['POST'])
def handler():
    try:
        event = from_http(request.headers, request.get_data(), None)
        if event['datacontenttype'].lower() != 'application/json':
            return jsonify({'status': 400, 'error': 'invalid datacontenttype'}), 400
        if event['type'] not in POWERED_ON:
            return jsonify({'status': 400, 'error': f"unexpected event type {event['type']}"}), 400

        vm = event.data['Vm']
        app.logger.info(f"{vm['Name']} ({vm['Vm']['Value']}) powered on by {event.data['UserName'] or 'vCenter'}")
        return jsonify({
            'type': event['type'],
            'id': event['id'],
            'source': event['source'],
            'subject': event.get('subject'),
            'eventclass': event.get('eventclass'),
            'vm': vm['Name'],
            'vm_id': vm['Vm']['Value'],
            'host': (event.data['Host'] or {}).get('Name'),
            'user': event.data['UserName'],
            'key': event.data['Key'],
            'message': event.data['FullFormattedMessage'],
        }), 200
    except KeyError as e:
        return jsonify({'status': 400, 'error': f'could not decode cloud event: {e}'}), 400


if __name__ == "__main__":
    # Knative tells a service its port in PORT; 0 picks a free one (the
    # chosen address is logged: "Running on http://127.0.0.1:NNNNN").
    app.run(host=os.environ.get('HOST', '127.0.0.1'), port=int(os.environ.get('PORT', '8080')))
